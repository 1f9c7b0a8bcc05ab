"""Secret values kept out of what is recorded: tracebacks, logs, run pages.

The secret runtime tells this module every value it hands a task (:func:`remember`); text on
its way to the run store or a log file goes through :func:`redact`, which replaces each known
value with ``***``. The values live only in this process's memory, where the task has them too.
"""

from __future__ import annotations

import threading

MASK = "***"
# Shorter values would mask ordinary words and digits all over a log; such a "secret" is not
# one anyone can keep (and is still never written by flyte itself).
MIN_LENGTH = 4

_lock = threading.Lock()
_values: frozenset[str] = frozenset()


def remember(value: str | bytes) -> None:
    """Add a secret value (and, for bytes, its UTF-8 text) to those :func:`redact` masks."""
    global _values
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    candidates = {text, text.strip()}
    with _lock:
        _values = _values | {v for v in candidates if len(v) >= MIN_LENGTH}


def redact(text: str) -> str:
    """``text`` with every remembered secret value replaced by ``***`` (longest first, so a
    value containing another is masked whole)."""
    values = _values
    if not values or not text:
        return text
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text
