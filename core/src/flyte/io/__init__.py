"""Files, folders and tables in storage (``flyte.io.File``, ``Dir``, ``DataFrame``).

Tasks pass them by reference: only the address (and an optional content hash) travels with a
task's inputs and outputs. The storage is ``flyte.init(storage=...)`` (a local path or any
object-store URL), by default ``<state root>/storage``; see :mod:`flyte.storage`.
"""

from flyte import _codec, _typecheck
from flyte.io._dataframe import CSV, PARQUET, DataFrame
from flyte.io._dir import Dir
from flyte.io._file import File, _Pending
from flyte.io._hashing import HashFunction, HashlibAccumulator, HashMethod, PrecomputedValue


def _key(ref: File | Dir) -> list[str]:
    # A content hash makes equal data at different places one cache key; else the location.
    return ["hash", ref.hash] if ref.hash else ["path", ref.path]


def _file_json(f: File) -> list[str | None]:
    if isinstance(f, _Pending) and f.hash is None and f.method is not None:
        f = f.with_content_hash(f.method)
    return [f.path, f.name, f.hash]


def _dataframe_json(df: DataFrame) -> list[str | None]:
    if df.uri is None:  # an in-memory frame inside another value: store it now
        from flyte.io._transport import store_dataframe

        df = store_dataframe(df)
    return [df.uri, df.format, df.hash, df._type_path]


def _dataframe(v: list[str | None]) -> DataFrame:
    df = DataFrame(uri=v[0], format=v[1], hash=v[2])
    df._type_path = v[3] if len(v) > 3 else None
    return df


def _dataframe_key(df: DataFrame) -> list[str | None]:
    if df.hash:
        return ["hash", df.hash]
    return ["uri", _dataframe_json(df)[0], df.format]


_codec.register(File, "file", _file_json, lambda v: File(*v), canonical=lambda f: _key(File(*_file_json(f))))
_codec.register(_Pending, "file", _file_json, lambda v: File(*v), canonical=lambda f: _key(File(*_file_json(f))))
_codec.register(Dir, "dir", lambda d: [d.path, d.name, d.hash], lambda v: Dir(*v), canonical=_key)
_codec.register(DataFrame, "dataframe", _dataframe_json, _dataframe, canonical=_dataframe_key)


def _dataframe_check(value: object) -> bool:
    # A declared flyte.io.DataFrame accepts any dataframe: it is stored and wrapped at the boundary.
    from flyte.io._frames import is_dataframe

    return isinstance(value, DataFrame) or is_dataframe(value)


_typecheck.register_type_check(DataFrame, _dataframe_check)

__all__ = [
    "CSV",
    "PARQUET",
    "DataFrame",
    "Dir",
    "File",
    "HashFunction",
    "HashMethod",
    "HashlibAccumulator",
    "PrecomputedValue",
]
