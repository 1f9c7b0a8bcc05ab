"""``flyte.io.DataFrame``: a table in storage, passed between tasks by reference.

A task may return a ``pandas.DataFrame``, a ``pyarrow.Table``, a ``polars.DataFrame`` (or any
type a plugin registers with ``flyte_dataframe_handlers``) or a ``flyte.io.DataFrame``; the data
is written to the run's storage (Parquet by default) and only its address travels, so it never
counts against ``max_inline_io_bytes``. A consumer declares the concrete type and gets it, or
declares ``flyte.io.DataFrame`` and reads when it wants to::

    pdf = await df.open(pd.DataFrame).all()          # the whole table
    async for chunk in df.open(pd.DataFrame).iter():  # one chunk at a time
        ...
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterator
from typing import Any

from flyte.io import _frames
from flyte.io._hashing import HashMethod

PARQUET = "parquet"
CSV = "csv"


class DataFrame:
    """A reference to a stored table: ``uri`` (file or folder), ``format``, and an optional
    content ``hash`` that cache keys use instead of the location."""

    def __init__(self, uri: str | None = None, format: str | None = PARQUET, hash: str | None = None, **_: Any):
        if uri is not None and not isinstance(uri, str):
            raise TypeError(f"DataFrame: uri: expected a str, got {type(uri).__name__} {uri!r}")
        self.uri = uri
        self.format = format or PARQUET
        self.hash = hash
        self._val: Any = None  # an in-memory dataframe not stored yet (wrap_df)
        self._type_path: str | None = None  # the type it was stored from (what an untyped reader gets)
        self._open_as: type | None = None
        self._destination: str | None = None  # where wrap_df(uri=...) asked for it to be written
        # The columns its declared type names (Annotated[DataFrame, {"a": int}]): what a read gives.
        self._columns: tuple[str, ...] | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def wrap_df(cls, val: Any = None, uri: str | None = None) -> DataFrame:
        """Wrap an in-memory dataframe; it is written to storage (at ``uri`` if given) when it
        leaves the task."""
        if isinstance(val, DataFrame):
            return val
        frame = cls(uri=None)
        frame._val = val
        frame._destination = uri
        return frame

    from_df = wrap_df  # the reference SDK's older name

    @classmethod
    def from_existing_remote(cls, remote_path: str, format: str | None = None, **kwargs: Any) -> DataFrame:
        """A reference to data already in storage (a Parquet file, or a folder of them)."""
        return cls(uri=remote_path, format=format or PARQUET, hash=kwargs.get("hash"))

    @classmethod
    def from_local_sync(
        cls,
        df: Any,
        columns: collections.OrderedDict[str, type] | None = None,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
        format: str | None = None,
    ) -> DataFrame:
        """Write ``df`` to storage now and return the reference. ``df`` may also be an iterator
        of dataframes of one type: they are written chunk by chunk (one held at a time).
        ``hash_method`` gives the content hash cache keys use (a ``str`` is the hash itself)."""
        from flyte.io._transport import store_dataframe

        return store_dataframe(df, destination=remote_destination, hash_method=hash_method, format=format)

    @classmethod
    async def from_local(
        cls,
        df: Any,
        columns: collections.OrderedDict[str, type] | None = None,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
        format: str | None = None,
    ) -> DataFrame:
        """Async :meth:`from_local_sync`."""
        return await asyncio.to_thread(cls.from_local_sync, df, columns, remote_destination, hash_method, format)

    # -- reading -------------------------------------------------------------------------------
    @property
    def val(self) -> Any:
        """The in-memory dataframe this wraps, if it was created from one."""
        return self._val

    def open(self, dataframe_type: type) -> DataFrame:
        """A handle that reads this data as ``dataframe_type`` (``.all()``, ``.iter()``)."""
        handle = DataFrame(self.uri, self.format, self.hash)
        handle._val, handle._type_path, handle._columns = self._val, self._type_path, self._columns
        handle._open_as = dataframe_type
        return handle

    def _selecting(self, columns: tuple[str, ...] | None) -> DataFrame:
        """This reference, read as only ``columns`` (its declared type names them)."""
        view = DataFrame(self.uri, self.format, self.hash)
        view._val, view._type_path, view._open_as = self._val, self._type_path, self._open_as
        view._destination, view._columns = self._destination, columns
        return view

    def all_sync(self) -> Any:
        """The whole table (its declared columns only, when its type names them), as the type
        given to :meth:`open`."""
        target = self._target("all")
        if self._val is not None and isinstance(self._val, target):
            return self._project(self._val, target)
        handler = self._handler(target)
        return self._project(handler.read(self._require_uri(), self.format), target)

    def _project(self, frame: Any, target: type) -> Any:
        if self._columns is None:
            return frame
        handler = _frames.handler_for_type(target)
        if handler is None:
            raise _frames.no_handler(target)
        if handler.select is None:
            raise TypeError(
                f"DataFrame {self.uri or '(in memory)'}: its type declares columns ({', '.join(self._columns)}) "
                f"but the {handler.type_path} handler cannot select columns; declare the type without them"
            )
        try:
            return handler.select(frame, self._columns)
        except ValueError as e:
            raise ValueError(f"DataFrame {self.uri or '(in memory)'}: {e}") from None

    async def all(self) -> Any:
        """Async :meth:`all_sync`."""
        return await asyncio.to_thread(self.all_sync)

    def iter_sync(self) -> Iterator[Any]:
        """The table in chunks of the type given to :meth:`open`; one chunk is held at a time."""
        target = self._target("iter")
        if self._val is not None and isinstance(self._val, target):
            yield self._project(self._val, target)
            return
        handler = self._handler(target)
        uri = self._require_uri()
        if handler.iter is None:
            yield self._project(handler.read(uri, self.format), target)
        else:
            for chunk in handler.iter(uri, self.format):
                yield self._project(chunk, target)

    def iter(self) -> _Chunks:
        """Async chunks: ``async for chunk in df.open(T).iter()`` (``await df.iter()`` works too)."""
        return _Chunks(self.iter_sync())

    def _target(self, method: str) -> type:
        if self._open_as is None:
            raise ValueError(
                f"DataFrame.{method}(): say which type to read as first, e.g. df.open(pandas.DataFrame).{method}()"
            )
        return self._open_as

    def _handler(self, target: type) -> Any:
        handler = _frames.handler_for_type(target)
        if handler is None:
            raise _frames.no_handler(target)
        if self.format not in handler.formats:
            raise ValueError(
                f"DataFrame {self.uri}: format {self.format!r} cannot be read as {target.__name__} "
                f"(accepted: {', '.join(handler.formats)})"
            )
        return handler

    def _require_uri(self) -> str:
        if self.uri is None:
            raise ValueError("DataFrame: this reference has no uri (it was never stored)")
        return self.uri

    # -- value semantics -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataFrame):
            return NotImplemented
        if self.uri is None or other.uri is None:
            return self is other
        return (self.uri, self.format, self.hash) == (other.uri, other.format, other.hash)

    def __hash__(self) -> int:
        return hash((self.uri, self.format, self.hash)) if self.uri is not None else id(self)

    def __repr__(self) -> str:
        if self.uri is None:
            return f"DataFrame(<in memory {type(self._val).__name__}>)"
        extra = f", hash={self.hash!r}" if self.hash else ""
        return f"DataFrame(uri={self.uri!r}, format={self.format!r}{extra})"

    @classmethod
    def columns(cls) -> dict[str, type]:
        return {}

    @classmethod
    def column_names(cls) -> list[str]:
        return []


class _Chunks:
    """Chunks read on a worker thread as they are consumed."""

    def __init__(self, chunks: Iterator[Any]):
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        done = object()
        item = await asyncio.to_thread(next, self._chunks, done)
        if item is done:
            raise StopAsyncIteration
        return item

    def __await__(self) -> Any:
        async def itself() -> _Chunks:
            return self

        return itself().__await__()
