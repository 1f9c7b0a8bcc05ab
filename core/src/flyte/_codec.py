"""One encoding of Python values as JSON, used wherever values leave the process.

Task inputs and outputs, defaults in a :class:`~flyte.TaskSpec`, trigger inputs, run records
and cache keys all go through :func:`encode`/:func:`decode`. Plain JSON values stay as they
are; everything else becomes a tagged object ``{"$t": <tag>, ...}`` so it comes back as the
same type: tuples, sets, bytes, datetimes, enums, dataclasses, attrs classes, ...

Two modes:

- ``canonical=True`` (cache keys): the output is deterministic across processes and hash
  seeds (dict entries and set elements sorted by their own encoding). A value with no
  deterministic encoding raises :class:`UnhashableInputError` naming it; nothing is guessed.
- otherwise (transport): an object the codec does not know is pickled (cloudpickle), so any
  Python value can travel between a task and its caller.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import json
import math
import pathlib
import sys
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from flyte._main_name import main_module_name, real_name

TAG = "$t"


class UnhashableInputError(TypeError):
    """A value has no deterministic encoding, so it cannot be part of a cache key."""


# Extension point for types defined elsewhere in flyte (flyte.io.File, ...): tag -> codec.
_EXTENSIONS: dict[type, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = {}
_CANONICAL_EXT: dict[type, Callable[[Any], Any]] = {}
_BY_TAG: dict[str, Callable[[Any], Any]] = {}
# Tags whose types register themselves when their module is imported.
_LAZY = {"file": "flyte.io", "dir": "flyte.io", "dataframe": "flyte.io", "frozendict": "flyte.frozen"}


def register(
    cls: type,
    tag: str,
    to_json: Callable[[Any], Any],
    from_json: Callable[[Any], Any],
    canonical: Callable[[Any], Any] | None = None,
) -> None:
    """Teach the codec a type: ``to_json(obj)`` must return JSON-able data. ``canonical(obj)``,
    when given, is what cache keys hash instead (e.g. a content hash rather than a location)."""
    _EXTENSIONS[cls] = (tag, to_json, from_json)
    _BY_TAG[tag] = from_json
    if canonical is not None:
        _CANONICAL_EXT[cls] = canonical


def _qualname(cls: type) -> str:
    # A script's class by the script's real name, not __main__ (flyte._main_name): a cache key
    # and a stored value read the same whether the script ran as `python FILE` or `flyte run FILE`.
    return f"{real_name(cls.__module__)}:{cls.__qualname__}"


def _import(path: str) -> Any:
    module, _, qualname = path.partition(":")
    if module not in sys.modules and module == main_module_name():  # this process runs it as __main__
        module = "__main__"
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# Built once: json.dumps with non-default options constructs an encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SCALARS = (str, int, bool, type(None))
# The types of value canonical_as_is accepts in a flat dict (a set: one hash probe per value).
CANONICAL_SCALARS = frozenset(_SCALARS)


def _canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def encode(value: Any, *, canonical: bool = False, path: str = "value") -> Any:
    """``value`` as JSON-able data; see the module docstring for the two modes."""
    enc = _Encoder(canonical)
    return enc.encode(value, path)


# The C encoders behind _COMPACT and _CANONICAL, built once for a flat dict whose keys must be
# sorted (canonical): JSONEncoder.encode builds one on every call. Only for flat dicts of
# scalars, which cannot contain themselves: no circular-reference check.
_make = json.encoder.c_make_encoder  # type: ignore[attr-defined]  # None without the C accelerator
_text = json.encoder.encode_basestring
_canonical_flat = _make and _make(None, _CANONICAL.default, _text, None, ":", ",", True, False, True)


def _float_text(value: float) -> str | None:
    return float.__repr__(value) if math.isfinite(value) else None  # NaN and infinities are tagged


# A scalar's JSON text, exactly as the json module writes it (None: not plain JSON). A task
# call encodes its inputs and its output for the record: this is most calls' whole encoding.
_SCALAR_TEXT: dict[type, Callable[[Any], str | None]] = {
    int: int.__repr__,
    str: _text,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
    float: _float_text,
}


def _flat_text(value: dict[Any, Any]) -> str | None:
    """A dict of str keys and scalar values as compact JSON in its own order (None: it is not
    one)."""
    if TAG in value:
        return None
    parts = []
    for k, v in value.items():
        to_text = _SCALAR_TEXT.get(type(v))
        text = to_text(v) if to_text is not None and type(k) is str else None
        if text is None:
            return None
        parts.append(f"{_text(k)}:{text}")
    return "{" + ",".join(parts) + "}"


def dumps(value: Any, *, canonical: bool = False, path: str = "value") -> str:
    """``encode`` then serialise to a compact JSON string (sorted keys when canonical)."""
    t = type(value)
    to_text = _SCALAR_TEXT.get(t)
    if to_text is not None:  # the common case: no walk, no encoder
        text = to_text(value)
        if text is not None:
            return text
    elif t is dict:
        if not canonical or len(value) < 2:
            text = _flat_text(value)
            if text is not None:
                return text
        elif (
            _canonical_flat
            and TAG not in value
            and all(type(k) is str and type(v) in _SCALARS for k, v in value.items())
        ):
            return "".join(_canonical_flat(value, 0))
    data = encode(value, canonical=canonical, path=path)
    if canonical:
        return _canonical_json(data)
    return _COMPACT.encode(data)


def canonical_as_is(value: dict[str, Any]) -> bool:
    """Whether ``dumps(value)`` is also ``dumps(value, canonical=True)``: a flat dict of scalars
    (dumps's common case) whose keys are already in sorted order (one input, or a few named in
    order), so a cache key can hash the record's encoding instead of encoding again."""
    if TAG in value:
        return False
    last = ""
    for k, v in value.items():
        if type(k) is not str or type(v) not in _SCALARS or k < last:
            return False
        last = k
    return True


def flat_encoder(names: tuple[str, ...]) -> Callable[[dict[str, Any]], str | None]:
    """``dumps`` of a dict whose keys are ``names``, in this order, and whose values are
    str, int, bool, None or finite floats (a task's bound inputs, mostly), with the keys'
    text worked out once: the same text, byte for byte; None for any other dict (ask
    :func:`dumps`). Encoding one such input ``{"i": 5}`` through ``dumps`` was ~7.7k
    instructions, its parts (the key's text, the joins) more than the value's."""
    if TAG in names:
        return lambda value: None
    heads = [("," if i else "{") + _text(name) + ":" for i, name in enumerate(names)]
    if len(names) == 1:
        (name,), (head,) = names, heads

        def one(value: dict[str, Any]) -> str | None:
            if len(value) == 1:
                for key, item in value.items():
                    to_text = _SCALAR_TEXT.get(type(item))
                    if to_text is not None and type(key) is str and key == name:
                        text = to_text(item)
                        if text is not None:
                            return head + text + "}"
            return None

        return one

    def many(value: dict[str, Any]) -> str | None:
        if len(value) != len(names):
            return None
        parts = []
        for (key, item), name, head in zip(value.items(), names, heads, strict=True):
            to_text = _SCALAR_TEXT.get(type(item))
            text = None if to_text is None or type(key) is not str or key != name else to_text(item)
            if text is None:
                return None
            parts += (head, text)
        return "".join(parts) + "}" if parts else "{}"

    return many


# The C scanner behind json.loads, built once: json.loads's Python layers (its checks, the
# decoder's two whitespace matches) cost about as much as scanning a small value.
_make_scanner = json.scanner.c_make_scanner  # type: ignore[attr-defined]  # None without the C accelerator
_scan = _make_scanner and _make_scanner(json.JSONDecoder())


def _from_base64(text: str) -> bytes:
    """The bytes of a base64 value; an error for one a record masked (its ``***``): decoding
    would skip the mask's characters and return other bytes without a word."""
    if "*" in text:  # no base64 has one: flyte.runtime.redact masked a secret's value here
        raise ValueError(
            "this value (bytes or a pickled object) held a secret's value, masked (***) where it was recorded; "
            "the value itself is only where it was returned (the caller of flyte.run)"
        )
    return base64.b64decode(text)


def loads(text: str | bytes) -> Any:
    """``dumps``'s output back as the value: ``decode(json.loads(text))``, the same values
    and errors; text that is exactly one JSON value goes to the C scanner directly."""
    if type(text) is str and _scan is not None:
        try:
            data, end = _scan(text, 0)
        except StopIteration:  # not a value at its start (e.g. whitespace): json.loads says why
            pass
        else:
            if end == len(text):  # the whole text, as json.loads requires
                return data if type(data) in _AS_DECODED else decode(data)
    return decode(json.loads(text))


# What the scanner reads that decode() returns as it is (no container to walk, no tag).
_AS_DECODED = frozenset((str, int, float, bool, type(None)))


class _Encoder:
    def __init__(self, canonical: bool):
        self.canonical = canonical
        self._active: set[int] = set()

    def encode(self, value: Any, path: str) -> Any:
        t = type(value)
        if value is None or t is bool or t is str or t is int:
            return value
        if t is float:
            return value if math.isfinite(value) else {TAG: "float", "v": repr(value)}
        ext = _EXTENSIONS.get(type(value))
        if ext is not None:
            tag, to_json, _ = ext
            if self.canonical and type(value) in _CANONICAL_EXT:
                return {TAG: tag, "key": _CANONICAL_EXT[type(value)](value)}
            return {TAG: tag, "v": to_json(value)}
        if id(value) in self._active:
            raise UnhashableInputError(f"{path}: a value that contains itself cannot be encoded")
        self._active.add(id(value))
        try:
            return self._container(value, path)
        finally:
            self._active.discard(id(value))

    def _container(self, value: Any, path: str) -> Any:
        t = type(value)
        if t is list:
            # Scalars pass through as they are; an element's path is only built when needed.
            return [v if type(v) in _SCALARS else self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if t is tuple:
            return {TAG: "tuple", "v": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if t is dict:
            if all(isinstance(k, str) for k in value) and TAG not in value:
                return {k: v if type(v) in _SCALARS else self.encode(v, f"{path}[{k!r}]") for k, v in value.items()}
            items = [[self.encode(k, f"{path} key"), self.encode(v, f"{path}[{k!r}]")] for k, v in value.items()]
            if self.canonical:
                items.sort(key=lambda kv: _canonical_json(kv[0]))
            return {TAG: "dict", "v": items}
        if t in (set, frozenset):
            items = [self.encode(v, f"{path} element") for v in value]
            items.sort(key=_canonical_json)  # sets have no order; any fixed one will do
            return {TAG: t.__name__, "v": items}
        if t in (bytes, bytearray):
            return {TAG: t.__name__, "v": base64.b64encode(value).decode()}
        if t is dt.datetime:
            return {TAG: "datetime", "v": value.isoformat()}
        if t is dt.date:
            return {TAG: "date", "v": value.isoformat()}
        if t is dt.time:
            return {TAG: "time", "v": value.isoformat()}
        if t is dt.timedelta:
            return {TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
        if t is decimal.Decimal:
            return {TAG: "decimal", "v": str(value)}
        if t is uuid.UUID:
            return {TAG: "uuid", "v": str(value)}
        if isinstance(value, pathlib.PurePath):
            return {TAG: "path", "cls": _qualname(t), "v": str(value)}
        if isinstance(value, enum.Enum):
            return {TAG: "enum", "cls": _qualname(t), "v": self.encode(value.value, path)}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {
                f.name: self.encode(getattr(value, f.name), f"{path}.{f.name}")
                for f in dataclasses.fields(value)
                if f.init
            }
            return {TAG: "dataclass", "cls": _qualname(t), "v": fields}
        if attrs.has(t):
            fields = {
                a.alias or a.name: self.encode(getattr(value, a.name), f"{path}.{a.name}")
                for a in attrs.fields(t)
                if a.init
            }
            return {TAG: "attrs", "cls": _qualname(t), "v": fields}
        if type(value).__name__ == "_TriggerTimeType":
            return {TAG: "trigger_time"}
        if self.canonical:
            raise UnhashableInputError(
                f"{path}: a {t.__module__}.{t.__qualname__} has no deterministic encoding, so it "
                "cannot be part of a cache key; pass plain data (str, numbers, lists, dicts, "
                "dataclasses, ...), or leave this input out with Cache(ignored_inputs=...)"
            )
        import cloudpickle

        return {TAG: "pickle", "v": base64.b64encode(cloudpickle.dumps(value)).decode()}


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(TAG)
    if tag is None:
        return {k: decode(v) for k, v in data.items()}
    v = data.get("v")
    if tag == "tuple":
        return tuple(decode(x) for x in v)
    if tag == "dict":
        return {_hashable(decode(k)): decode(x) for k, x in v}
    if tag == "set":
        return {_hashable(decode(x)) for x in v}
    if tag == "frozenset":
        return frozenset(_hashable(decode(x)) for x in v)
    if tag == "bytes":
        return _from_base64(v)
    if tag == "bytearray":
        return bytearray(_from_base64(v))
    if tag == "float":
        return float(v)
    if tag == "datetime":
        return dt.datetime.fromisoformat(v)
    if tag == "date":
        return dt.date.fromisoformat(v)
    if tag == "time":
        return dt.time.fromisoformat(v)
    if tag == "timedelta":
        return dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2])
    if tag == "decimal":
        return decimal.Decimal(v)
    if tag == "uuid":
        return uuid.UUID(v)
    if tag == "path":
        return _import(data["cls"])(v)
    if tag == "enum":
        return _import(data["cls"])(decode(v))
    if tag in ("dataclass", "attrs"):
        return _import(data["cls"])(**{k: decode(x) for k, x in v.items()})
    if tag == "trigger_time":
        from flyte.triggers import TriggerTime

        return TriggerTime
    if tag == "pickle":
        import cloudpickle

        return cloudpickle.loads(_from_base64(v))
    if tag not in _BY_TAG and tag in _LAZY:
        importlib.import_module(_LAZY[tag])  # registers its types
    if tag in _BY_TAG:
        return _BY_TAG[tag](v)
    raise ValueError(f"unknown encoded value tag {tag!r}")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
