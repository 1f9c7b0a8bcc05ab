"""How values cross a task boundary: dataframes are stored, references are read as declared.

- Leaving a task (its outputs, or the inputs a caller passes): an in-memory dataframe is written
  to the run's storage and replaced by a :class:`~flyte.io.DataFrame` reference; an
  ``Annotated[T, HashFunction]`` return type adds the content hash. Records, cache keys and the
  inline-size check then see only references.
- Entering a task body (or returning to the caller): a reference is read as the declared type
  (``pd.DataFrame``, ``pa.Table``, ...); ``flyte.io.DataFrame`` stays a lazy reference.
- Types whose handler is ``engine_bound`` (a Spark DataFrame lives in a Spark session) cross
  only at the body, inside the plugin's engine: read just before the body runs, stored just
  after it returns (:func:`inputs_arriving` with ``in_engine``, :func:`outputs_in_engine`);
  elsewhere they stay references.

A dataframe that was already stored and has not changed since (a producer's output handed to
the next task) is not written again: handlers may give a cheap ``tracker``.
"""

from __future__ import annotations

import asyncio
import itertools
import typing
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flyte.io import _frames
from flyte.io._dataframe import DataFrame
from flyte.io._hashing import HashMethod, annotated_hash, hash_of

_PLAIN = (str, int, float, bool, type(None), bytes)

# id(value) -> (weak reference to it, "unchanged?" predicate, its stored reference).
# No lock: a weak reference's callback runs wherever the garbage collector happens to free the
# value, which can be inside _remember itself (hashing a frame allocates), so a lock taken there
# and in the callback deadlocks the thread. Single dict operations are atomic under the GIL.
_stored: dict[int, tuple[Any, Callable[[Any], bool], DataFrame]] = {}


def _remember(value: Any, tracker: Any, ref: DataFrame) -> None:
    if tracker is None:
        return
    key = id(value)
    try:
        alive = weakref.ref(value, lambda dead: _forget(key, dead))
    except TypeError:
        return  # not weakly referenceable: stored again when passed again
    _stored[key] = (alive, tracker(value), ref)


def _forget(key: int, dead: Any) -> None:
    entry = _stored.get(key)
    if entry is not None and entry[0] is dead:  # not a newer value that reuses the id
        _stored.pop(key, None)


def _recall(value: Any) -> DataFrame | None:
    entry = _stored.get(id(value))
    if entry is None or entry[0]() is not value:
        return None
    return entry[2] if entry[1](value) else None


def store_dataframe(
    value: Any, destination: str | None = None, hash_method: HashMethod | str | None = None, format: str | None = None
) -> DataFrame:
    """Write an in-memory dataframe (or an iterator of chunks) to storage; its reference."""
    from flyte.storage._paths import new_path

    if isinstance(value, DataFrame):
        if value.uri is not None:
            # Already stored with its hash (a plugin task's output, stored during the attempt).
            return value if value.hash is not None else _with_hash(value, hash_method)
        destination = destination or value._destination
        value = value._val
    chunks: Iterator[Any] | None = None
    first = value
    if not _frames.is_dataframe(value) and isinstance(value, Iterator):
        chunks = iter(value)
        first = next(chunks, None)
        if first is None:
            raise ValueError("DataFrame.from_local: the iterator of chunks is empty")
    handler = _frames.handler_for_value(first)
    if handler is None:
        raise _frames.no_handler(first)
    fmt = format or handler.formats[0]
    if fmt not in handler.formats:
        raise ValueError(
            f"DataFrame format {fmt!r} is not supported for {_frames.type_path(first)} "
            f"(accepted: {', '.join(handler.formats)})"
        )
    if chunks is None and destination is None and fmt == handler.formats[0]:
        known = _recall(value)
        if known is not None:
            return _with_hash(known, hash_method, value)
    content_hash = hash_of(hash_method, value) if chunks is None else _chunk_hash(hash_method)
    uri = destination or new_path(f"data.{fmt}")
    handler.write(value if chunks is None else itertools.chain([first], chunks), uri, fmt)
    ref = DataFrame(uri=uri, format=fmt, hash=content_hash)
    ref._type_path = _frames.handler_key(handler)
    if chunks is None and destination is None:
        _remember(value, handler.tracker, ref)
    return ref


def _chunk_hash(method: HashMethod | str | None) -> str | None:
    if method is None or isinstance(method, str):
        return method
    raise ValueError("DataFrame.from_local: a hash_method for chunks must be a precomputed str")


def _with_hash(ref: DataFrame, method: HashMethod | str | None, value: Any = None) -> DataFrame:
    if method is None or (value is None and ref.hash is not None):
        return ref  # no hash asked for, or hashed already when it was stored
    if value is None:
        if not isinstance(method, str):
            raise ValueError(
                f"DataFrame {ref.uri}: a HashFunction needs the data; pass the in-memory dataframe, or a str hash"
            )
        content = method
    else:
        content = hash_of(method, value)
    hashed = DataFrame(uri=ref.uri, format=ref.format, hash=content)
    hashed._type_path = ref._type_path
    return hashed


def _base(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def declared_columns(annotation: Any) -> tuple[str, ...] | None:
    """The columns an ``Annotated[T, {"a": int, ...}]`` dataframe type names (the reference
    SDK's spelling, an ordered mapping of name to type), or None."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    for meta in typing.get_args(annotation)[1:]:
        if isinstance(meta, Mapping) and meta and all(isinstance(k, str) for k in meta):
            return tuple(meta)
    return None


def _each_item(convert: Callable[..., Any], value: Any, annotation: Any) -> Any:
    """``convert`` applied to the items of a list, tuple or dict ``value`` (a fixed-length tuple
    annotation hands each item its own type, where hashes may be declared); others as they are."""
    t = type(value)
    if t is list:
        return [convert(v) for v in value]
    if t is tuple:
        args = typing.get_args(_base(annotation))
        if args and len(args) == len(value) and Ellipsis not in args:
            return tuple(convert(v, a) for v, a in zip(value, args, strict=False))
        return tuple(convert(v) for v in value)
    if t is dict:
        return {k: convert(v) for k, v in value.items()}
    return value


def might_hold_data(value: Any) -> bool:
    """False when ``value`` surely holds no dataframe or reference (skip the boundary work)."""
    t = type(value)
    if t in _PLAIN:
        return False
    if t is dict:  # a task call's inputs: checked a few times per call, so no generator
        for v in value.values():  # noqa: SIM110 (the any() of a generator is what this avoids)
            if type(v) not in _PLAIN and might_hold_data(v):
                return True
        return False
    if t in (list, tuple, set, frozenset):
        return any(might_hold_data(v) for v in value)
    return True


def outgoing(value: Any, annotation: Any = None) -> Any:
    """``value`` as it leaves a task: dataframes stored (hashed per ``annotation``)."""
    from flyte.io._dir import Dir
    from flyte.io._file import File

    method = annotated_hash(annotation)
    if isinstance(value, DataFrame) or _frames.is_dataframe(value):
        return store_dataframe(value, hash_method=method)
    if isinstance(value, (File, Dir)):
        method = method or getattr(value, "method", None)  # File.new_remote(hash_method=...)
        return value.with_content_hash(method) if method is not None and value.hash is None else value
    if type(value) in _PLAIN:
        return value
    return _each_item(outgoing, value, annotation)


def incoming(value: Any, annotation: Any = None, produced: Any = None, in_engine: bool = False) -> Any:
    """``value`` as a task body (or the caller) should see it, given the declared type.

    ``produced`` is the object the producing task returned, when it is in this process: handed
    back as it is when it already has the declared type (no read). ``in_engine``: this is the
    body boundary inside the plugin's engine, where ``engine_bound`` types are read."""
    base = _base(annotation)
    if isinstance(value, DataFrame):
        # A type naming its columns reads only those (as the reference SDK does); one that
        # does not, all of them, whatever an earlier declaration said.
        columns = declared_columns(annotation)
        if columns != value._columns:
            value = value._selecting(columns)
        if base is DataFrame:
            return value
        handler = _frames.handler_for_type(base) if isinstance(base, type) else None
        if handler is not None and handler.engine_bound and not in_engine:
            return value  # read where its engine runs, the body of a task that declares it
        if produced is not None and isinstance(base, type) and isinstance(produced, base):
            return produced if columns is None else value._project(produced, base)
        if handler is not None:
            frame = value.open(base).all_sync()
            if columns is None:
                _remember(frame, handler.tracker, value)  # handed on unchanged: not written again
            return frame
        # Undeclared: the type it was stored from, as a plain call would have returned it.
        undeclared = base in (None, typing.Any, object) and value._type_path
        stored_with = _frames.handler_named(value._type_path) if undeclared else None
        if stored_with is not None and (in_engine or not stored_with.engine_bound):
            stored_as = _frames._resolve(value._type_path)
            if stored_as is not None:
                return value.open(stored_as).all_sync()
        return value
    t = type(value)
    if t in _PLAIN:
        return value
    origin = typing.get_origin(base)
    args = typing.get_args(base)
    if t is list:
        inner = args[0] if origin in (list, typing.List) and args else None  # noqa: UP006
        return [incoming(v, inner, in_engine=in_engine) for v in value]
    if t is tuple:
        if args and len(args) == len(value) and Ellipsis not in args:
            return tuple(incoming(v, a, in_engine=in_engine) for v, a in zip(value, args, strict=False))
        return tuple(incoming(v, in_engine=in_engine) for v in value)
    if t is dict:
        inner = args[1] if origin in (dict, typing.Dict) and len(args) == 2 else None  # noqa: UP006
        return {k: incoming(v, inner, in_engine=in_engine) for k, v in value.items()}
    return value


def _engine_bound_stored(value: Any, annotation: Any = None) -> Any:
    """``value`` with its ``engine_bound`` dataframes stored (references in their place)."""
    if _frames.is_dataframe(value):
        handler = _frames.handler_for_value(value)
        if handler is not None and handler.engine_bound:
            return store_dataframe(value, hash_method=annotated_hash(annotation))
        return value
    return _each_item(_engine_bound_stored, value, annotation)


def compatible(annotation: Any, value: Any) -> bool:
    """Whether ``value`` is acceptable where ``annotation`` is declared as far as tables go: any
    dataframe or ``flyte.io.DataFrame`` where a dataframe type (or ``flyte.io.DataFrame``) is
    declared, since the boundary converts between them. For input/output type checks."""
    base = _base(annotation)
    table = base is DataFrame or (isinstance(base, type) and _frames.handler_for_type(base) is not None)
    return table and (isinstance(value, DataFrame) or _frames.is_dataframe(value))


_signatures: dict[Any, tuple[dict[str, Any], Any]] = {}


def annotations(func: Any) -> tuple[dict[str, Any], Any]:
    """A task function's parameter annotations and return annotation (memoised)."""
    found = _signatures.get(func)
    if found is None:
        from flyte.interface import signature_types

        found = signature_types(func)
        _signatures[func] = found
    return found


# -- what the controller calls at each boundary (on a worker thread only when there is data) ----
def _any_data(values: Any) -> bool:
    return any(might_hold_data(v) for v in values)


async def inputs_leaving(inputs: dict[str, Any]) -> dict[str, Any]:
    """A call's inputs as references (dataframes the caller holds are stored)."""
    if not _any_data(inputs.values()):
        return inputs
    return await asyncio.to_thread(lambda: {k: outgoing(v) for k, v in inputs.items()})


async def inputs_arriving(func: Any, inputs: dict[str, Any], in_engine: bool = False) -> dict[str, Any]:
    """A call's inputs as the task function declares them (references read as their types);
    ``in_engine``: at the body, inside the plugin's engine, where engine-bound types are read."""
    if not _any_data(inputs.values()) or (in_engine and not _frames.any_engine_bound()):
        return inputs
    params, _ = annotations(func)
    return await asyncio.to_thread(
        lambda: {k: incoming(v, params.get(k), in_engine=in_engine) for k, v in inputs.items()}
    )


async def outputs_in_engine(func: Any, result: Any, run_name: str, action_id: str) -> Any:
    """What a body returned, with its engine-bound dataframes stored while the plugin's engine is
    still up (under the action's folder, like :func:`output_leaving`)."""
    if not might_hold_data(result) or not _frames.any_engine_bound():
        return result
    _, declared = annotations(func)

    def store() -> Any:
        from flyte.storage._paths import run_prefix, writing_under

        with writing_under(f"{run_prefix(run_name)}/data/{action_id}"):
            return _engine_bound_stored(result, declared)

    return await asyncio.to_thread(store)


async def output_leaving(func: Any, result: Any, run_name: str, action_id: str) -> tuple[Any, Any]:
    """(the output as references, the value the caller gets) for what a task body returned;
    data it stores goes under the action's folder, ``<storage>/<run>/data/<action>/``."""
    if not might_hold_data(result):
        return result, result
    _, declared = annotations(func)

    def convert() -> tuple[Any, Any]:
        from flyte.storage._paths import run_prefix, writing_under

        with writing_under(f"{run_prefix(run_name)}/data/{action_id}"):
            stored = outgoing(result, declared)
        return stored, incoming(stored, declared, produced=result)

    return await asyncio.to_thread(convert)


async def output_arriving(func: Any, stored: Any) -> Any:
    """A stored output (a cache hit's) as the caller gets it."""
    if not might_hold_data(stored):
        return stored
    _, declared = annotations(func)
    return await asyncio.to_thread(incoming, stored, declared)
