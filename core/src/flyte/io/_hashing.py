"""Content hashes for cache keys: ``HashFunction.from_fn(fn)`` and the ``HashMethod`` protocol.

A reference value (``File``, ``Dir``, ``DataFrame``) is keyed in a downstream task's cache key by
its location unless it carries a content hash; a hash is given where the value is produced:

- ``Annotated[pd.DataFrame, HashFunction.from_fn(fn)]`` (or ``File``, ``Dir``) as a task's
  return type: ``fn`` gets the returned dataframe, the file's bytes, or for a folder a listing of
  its files with each one's SHA-256;
- ``File.from_local(path, hash_method=...)``, ``DataFrame.from_local(df, hash_method=...)``
  (a ``HashMethod``, or a ``str``: a precomputed hash), ``Dir.from_local(path, dir_cache_key=...)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class HashMethod(Protocol):
    """Something that digests data: ``update(data)`` any number of times, then ``result()``."""

    def update(self, data: Any, /) -> None: ...

    def result(self) -> str: ...


class HashFunction:
    """A :class:`HashMethod` from a function ``fn(data) -> str`` (the last ``update`` wins)."""

    def __init__(self, fn: Callable[[Any], str]):
        if not callable(fn):
            raise TypeError(f"HashFunction: expected a function data -> str, got {type(fn).__name__} {fn!r}")
        self._fn = fn
        self._value: str | None = None

    @classmethod
    def from_fn(cls, fn: Callable[[Any], str]) -> HashFunction:
        """A hash method that calls ``fn`` on the data."""
        return cls(fn)

    def update(self, data: Any, /) -> None:
        value = self._fn(data)
        if not isinstance(value, str):
            name = getattr(self._fn, "__qualname__", repr(self._fn))
            raise TypeError(f"HashFunction {name} returned {type(value).__name__} {value!r}, not a str")
        self._value = value

    def result(self) -> str:
        if self._value is None:
            raise ValueError("HashFunction.result(): update() was never called")
        return self._value

    def fresh(self) -> HashFunction:
        """A new instance with the same function (one annotation serves many values)."""
        return HashFunction(self._fn)

    def __repr__(self) -> str:
        return f"HashFunction({getattr(self._fn, '__qualname__', self._fn)!r})"


class PrecomputedValue:
    """A :class:`HashMethod` whose result is known already."""

    def __init__(self, value: str):
        self._value = value

    def update(self, data: Any, /) -> None:
        pass

    def result(self) -> str:
        return self._value


class HashlibAccumulator:
    """A :class:`HashMethod` over a ``hashlib`` object (``from_hash_name("sha256")``)."""

    def __init__(self, h: Any):
        self._h = h

    @classmethod
    def from_hash_name(cls, name: str) -> HashlibAccumulator:
        return cls(hashlib.new(name))

    def update(self, data: Any, /) -> None:
        self._h.update(data)

    def result(self) -> str:
        return self._h.hexdigest()


def hash_of(method: HashMethod | str | None, data: Any) -> str | None:
    """``method``'s hash of ``data`` (a ``str`` method is the hash itself; None: no hash)."""
    if method is None:
        return None
    if isinstance(method, str):
        return method
    if not isinstance(method, HashMethod):
        raise TypeError(
            f"hash_method: expected a flyte.io.HashFunction/HashMethod or a str, got {type(method).__name__} {method!r}"
        )
    fresh = method.fresh() if isinstance(method, HashFunction) else method
    fresh.update(data)
    return fresh.result()


def annotated_hash(annotation: Any) -> HashMethod | None:
    """The ``HashMethod`` in an ``Annotated[T, ...]`` annotation, if any."""
    import typing

    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    for extra in typing.get_args(annotation)[1:]:
        if isinstance(extra, HashMethod) and not isinstance(extra, type):
            return extra
    return None
