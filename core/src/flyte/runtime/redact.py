"""Secret values kept out of what is recorded: tracebacks, logs, run pages.

The secret runtime tells this module every value it hands a task (:func:`remember`); text on
its way to the run store or a log file goes through :func:`redact`, which replaces each known
value with ``***``. The values live only in this process's memory, where the task has them too.

A value is also masked as it is spelt once escaped (in JSON, in a Python ``repr``, in HTML, in
a URL: how it reads in a recorded output, an exception's message, a report or a logged
request), and each line of a multi-line value on its own (a log line or a preview may hold
one line of a key file), as CI systems' log maskers do. flyte itself records ``bytes`` and
pickled values in base64 (:mod:`flyte._codec`), so a value's base64 is masked too, wherever in
the encoded bytes it starts (see :func:`_base64_forms`).
"""

from __future__ import annotations

import base64
import html
import json
import threading
from urllib.parse import quote

MASK = "***"
# Shorter values would mask ordinary words and digits all over a log; such a "secret" is not
# one anyone can keep (and is still never written by flyte itself).
MIN_LENGTH = 4
# A shorter run of base64 would also mask ordinary base64 (a pickle, a file) now and then,
# leaving a recorded bytes value unreadable: 8 characters are two whole groups of 3 bytes.
MIN_BASE64 = 8

_lock = threading.Lock()
_values: tuple[str, ...] = ()  # longest first, so a value containing another is masked whole
_seen: set[str | bytes] = set()  # values remembered already: every call of a task hands its own again


def _spellings(text: str) -> set[str]:
    """``text`` as it may appear in what flyte writes: as is, stripped, escaped, line by line."""
    forms = {text, text.strip()}
    forms |= {line.strip() for line in text.splitlines()}
    for form in list(forms):
        forms.add(json.dumps(form)[1:-1])  # a JSON string's body (outputs, inputs)
        forms.add(json.dumps(form, ensure_ascii=False)[1:-1])
        forms.add(repr(form)[1:-1])  # a str's repr body ("KeyError: 'value'")
        forms.add(html.escape(form))  # a report, a page
        forms.add(quote(form, safe=""))  # a URL's query (a request logged with its token)
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _base64_forms(data: bytes) -> set[str]:
    """The base64 characters that encode ``data`` inside any longer bytes, standard and URL-safe.

    Base64 encodes groups of 3 bytes, so what ``data`` becomes depends on where it starts
    modulo 3: for each of the 3 offsets, the characters of the groups made of ``data``'s bytes
    alone (a group shared with the bytes around it differs from one value to the next). At
    most 2 bytes at each end of ``data`` stay in the encoding around the mask.
    """
    forms = set()
    for offset in range(3):
        skip = (3 - offset) % 3  # bytes of data that share a group with the bytes before it
        whole = (len(data) - skip) // 3 * 3
        if whole <= 0:
            continue
        text = base64.b64encode(data[skip : skip + whole]).decode()
        forms |= {text, text.replace("+", "-").replace("/", "_")}
    return {f for f in forms if len(f) >= MIN_BASE64}


def remember(value: str | bytes) -> None:
    """Add a secret value (and, for bytes, its UTF-8 text) to those :func:`redact` masks."""
    global _values
    if value in _seen:
        return
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    forms = _spellings(text)
    raw = value if isinstance(value, bytes) else value.encode("utf-8", errors="surrogatepass")
    for data in {raw, raw.strip(), text.strip().encode("utf-8", errors="surrogatepass")}:
        forms |= _base64_forms(data)
    with _lock:
        _seen.add(value)
        if forms.issubset(_values):
            return
        _values = tuple(sorted(forms.union(_values), key=len, reverse=True))


def known() -> bool:
    """Whether any secret value has been handed to a task in this process."""
    return bool(_values)


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds a remembered secret value (in any spelling :func:`redact` masks)."""
    values = _values
    if not values or not text:  # (every cached call's key asks: most processes have no secret)
        return False
    return any(value in text for value in values)


def redact(text: str) -> str:
    """``text`` with every remembered secret value replaced by ``***``."""
    values = _values
    if not values or not text:
        return text
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def unfinished(text: str) -> int:
    """How many characters at the end of ``text`` could be the start of a remembered value (a
    stream masked piece by piece holds them back until the next piece shows whether they are)."""
    values = _values
    if not values or not text:
        return 0
    longest, last = 0, text[-1]
    for value in values:
        for size in range(min(len(value) - 1, len(text)), longest, -1):
            if value[size - 1] == last and text.endswith(value[:size]):
                longest = size
                break
    return longest
