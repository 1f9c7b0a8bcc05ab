"""Deeply immutable containers for configuration objects.

A task's configuration (its ``TaskSpec``, every ``plugin_config``) is a value: equal configs
hash equal, and nothing can change one in place after it was validated. Fields that users give
as dicts (``env_vars``, Ray's ``runtime_env``, PyTorch's ``rdzv_configs``, ...) keep accepting
dicts and are stored with :func:`freeze`: dicts become :class:`FrozenDict`, lists and tuples
become tuples, sets frozensets, recursively. :func:`thaw` gives plain ``dict``/``list`` data back
(e.g. to serialise it into a manifest).

Values that are the user's data rather than configuration (input defaults, trigger inputs) are
not frozen, since the task must receive them as they were written; their owners compare and
hash them by their canonical encoding instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenDict(Mapping[Any, Any]):
    """An immutable, hashable mapping. It equals any mapping with the same contents once both
    are thawed, so a config equals the dict it was given (``("a",)`` inside it matching the
    ``["a"]`` that was passed). Its values are frozen too when built with :func:`freeze`."""

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, Mapping):
            return thaw(self) == thaw(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (self._data,))


def freeze(value: Any) -> Any:
    """``value`` with every dict, list and set in it replaced by an immutable equivalent."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain data again: mappings as ``dict``, tuples and lists as ``list``, frozensets as
    sorted lists when they can be sorted."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [thaw(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    return value


def value_key(value: Any) -> Any:
    """A hashable stand-in for a user's value in equality and hashing: its canonical encoding
    (equal values, equal keys), or its identity when it has none."""
    from flyte import _codec

    try:
        return _codec.dumps(value, canonical=True)
    except (_codec.UnhashableInputError, TypeError, ValueError):
        return ("object", id(value))


def _register_codec() -> None:
    from flyte import _codec

    _codec.register(
        FrozenDict,
        "frozendict",
        lambda d: _codec.encode(dict(d.items())),
        lambda data: freeze(_codec.decode(data)),
    )


_register_codec()
