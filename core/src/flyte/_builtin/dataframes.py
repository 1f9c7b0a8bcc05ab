"""The core's dataframe handlers: pandas, pyarrow and polars, stored as Parquet (or CSV).

All three go through Arrow: a pandas or polars frame becomes an Arrow table (zero-copy where
the engine allows) and pyarrow writes it, so the three read each other's data, and data written
as a folder of part files by Spark or Dask reads the same way. pandas, pyarrow and polars are
imported only when such a value is stored or read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from flyte.plugin_types import DataFrameHandler, require_columns

FORMATS = ("parquet", "csv")
_MISSING_ARROW = "storing dataframes needs pyarrow: pip install 'flyte-core[dataframe]' (pandas and pyarrow)"


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(_MISSING_ARROW) from None
    return pyarrow


# -- writing -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _sink(uri: str) -> Iterator[Any]:
    """Where pyarrow writes: a local temporary path renamed into place (Arrow's own fast file
    I/O), or an all-or-nothing upload handle for an object store."""
    from flyte.storage._filesystem import filesystem, is_local, storage_errors
    from flyte.storage._operations import atomic_open

    fs, path = filesystem(uri)
    if not is_local(fs):
        with atomic_open(uri, "wb") as handle:
            yield handle
        return
    directory = os.path.dirname(path) or "."
    with storage_errors(uri, "write"):
        os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.partial")
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.replace(tmp, path)


def write_tables(tables: Any, uri: str, fmt: str) -> None:
    """Write an Arrow table, or an iterator of tables with one schema (one row group each)."""
    pa = _pa()
    if isinstance(tables, pa.Table):
        tables = iter([tables])
    with _sink(uri) as sink:
        writer: Any = None
        try:
            for table in tables:
                if writer is None:
                    writer = _writer(sink, table.schema, fmt)
                writer.write_table(table) if fmt == "parquet" else writer.write(table)
        finally:
            if writer is not None:
                writer.close()


def _writer(sink: Any, schema: Any, fmt: str) -> Any:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(sink, schema)
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(sink, schema)


# -- reading -------------------------------------------------------------------------------------
def _files(uri: str, fmt: str) -> tuple[Any, list[str]]:
    """The filesystem and the data files at ``uri``: the file itself, or a folder's files
    (hidden and ``_``-prefixed ones, such as ``_SUCCESS``, skipped)."""
    from flyte.storage._filesystem import filesystem, storage_errors

    fs, path = filesystem(uri)
    with storage_errors(uri, "read"):
        if not fs.isdir(path):
            if not fs.exists(path):
                raise FileNotFoundError(path)
            return fs, [path]
        found = sorted(
            p for p in fs.find(path) if not os.path.basename(p).startswith(("_", ".")) and "/." not in p[len(path) :]
        )
    return fs, found


def read_table(uri: str, fmt: str) -> Any:
    pa = _pa()
    tables = list(iter_tables(uri, fmt))
    if not tables:
        return pa.table({})
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def iter_tables(uri: str, fmt: str) -> Iterator[Any]:
    """The data as Arrow tables: one per Parquet row group (or per CSV file), one at a time."""
    _pa()
    from flyte.storage._filesystem import is_local, storage_errors

    fs, files = _files(uri, fmt)
    local = is_local(fs)
    for path in files:
        with storage_errors(uri, "read"):
            if fmt == "parquet":
                import pyarrow.parquet as pq

                source = pq.ParquetFile(path if local else fs.open(path, "rb"))
                try:
                    for group in range(source.num_row_groups):
                        yield source.read_row_group(group)
                finally:
                    source.close()
            else:
                import pyarrow.csv as pacsv

                with fs.open(path, "rb") as handle:
                    yield pacsv.read_csv(handle)


# -- the three engines ---------------------------------------------------------------------------
def _pandas_to_arrow(df: Any) -> Any:
    return _pa().Table.from_pandas(df)


def _pandas_write(value: Any, uri: str, fmt: str) -> None:
    if isinstance(value, Iterator):
        write_tables((_pandas_to_arrow(chunk) for chunk in value), uri, fmt)
    else:
        write_tables(_pandas_to_arrow(value), uri, fmt)


def _pandas_tracker(df: Any) -> Callable[[Any], bool]:
    """Whether a pandas frame is unchanged since it was stored, in O(columns).

    pandas 3 copies on write: while we hold a shallow copy, any change to the frame replaces the
    changed column arrays instead of writing into them, so identical array objects, labels and
    index mean identical data. Older pandas: a content hash (a full pass over the data)."""
    import pandas as pd

    if int(pd.__version__.split(".")[0]) < 3:
        try:
            before = _pandas_digest(df)
        except TypeError:  # cells pandas cannot hash (lists, dicts): store again, never guess
            return lambda now: False
        return lambda now: _pandas_digest(now) == before
    view = df.copy(deep=False)  # a second reference: from now on a change copies, never writes in place
    try:
        arrays = list(df._mgr.arrays)
    except AttributeError:  # pandas moved its internals: store again, never guess
        return lambda now: False

    def unchanged(now: Any) -> bool:
        current = now._mgr.arrays
        return (
            len(current) == len(arrays)
            and all(a is b for a, b in zip(current, arrays, strict=True))
            and now.columns.equals(view.columns)
            and now.index.equals(view.index)
        )

    return unchanged


def _pandas_digest(df: Any) -> tuple[Any, ...]:
    import hashlib

    import pandas as pd

    hashed = pd.util.hash_pandas_object(df, index=True).to_numpy()
    return (tuple(map(str, df.columns)), tuple(map(str, df.dtypes)), hashlib.sha256(hashed.tobytes()).hexdigest())


def _pandas_read(uri: str, fmt: str) -> Any:
    return read_table(uri, fmt).to_pandas()


def _pandas_iter(uri: str, fmt: str) -> Iterator[Any]:
    for table in iter_tables(uri, fmt):
        yield table.to_pandas()


def _arrow_write(value: Any, uri: str, fmt: str) -> None:
    write_tables(value, uri, fmt)


def _immutable(_: Any) -> Callable[[Any], bool]:
    return lambda now: True  # an Arrow table cannot change


def _polars_write(value: Any, uri: str, fmt: str) -> None:
    if isinstance(value, Iterator):
        write_tables((chunk.to_arrow() for chunk in value), uri, fmt)
    else:
        write_tables(value.to_arrow(), uri, fmt)


def _polars_tracker(df: Any) -> Callable[[Any], bool]:
    view = df.clone()  # shares the (immutable) column buffers; a change replaces a column
    return lambda now: now.schema == view.schema and now.equals(view)


def _polars_read(uri: str, fmt: str) -> Any:
    import polars as pl

    return pl.from_arrow(read_table(uri, fmt))


def _polars_iter(uri: str, fmt: str) -> Iterator[Any]:
    import polars as pl

    for table in iter_tables(uri, fmt):
        yield pl.from_arrow(table)


def _polars_lazy_write(value: Any, uri: str, fmt: str) -> None:
    _polars_write(value.collect(), uri, fmt)


def _polars_lazy_read(uri: str, fmt: str) -> Any:
    return _polars_read(uri, fmt).lazy()


# -- declared columns (Annotated[T, {"a": int}]): only those, in that order ------------------------
def _pandas_select(df: Any, columns: tuple[str, ...]) -> Any:
    require_columns(df.columns, columns)
    return df[list(columns)]


def _arrow_select(table: Any, columns: tuple[str, ...]) -> Any:
    require_columns(table.column_names, columns)
    return table.select(list(columns))


def _polars_select(df: Any, columns: tuple[str, ...]) -> Any:
    require_columns(df.columns, columns)
    return df.select(list(columns))


def _polars_lazy_select(lf: Any, columns: tuple[str, ...]) -> Any:
    require_columns(lf.collect_schema().names(), columns)
    return lf.select(list(columns))


HANDLERS = [
    DataFrameHandler(
        python_type="pandas:DataFrame",
        write=_pandas_write,
        read=_pandas_read,
        select=_pandas_select,
        iter=_pandas_iter,
        tracker=_pandas_tracker,
        formats=FORMATS,
        description="pandas.DataFrame as Parquet (index kept)",
    ),
    DataFrameHandler(
        python_type="pyarrow:Table",
        write=_arrow_write,
        read=read_table,
        select=_arrow_select,
        iter=iter_tables,
        tracker=_immutable,
        formats=FORMATS,
        description="pyarrow.Table as Parquet",
    ),
    DataFrameHandler(
        python_type="polars:DataFrame",
        write=_polars_write,
        read=_polars_read,
        select=_polars_select,
        iter=_polars_iter,
        tracker=_polars_tracker,
        formats=FORMATS,
        description="polars.DataFrame as Parquet",
    ),
    DataFrameHandler(
        python_type="polars:LazyFrame",
        write=_polars_lazy_write,
        read=_polars_lazy_read,
        select=_polars_lazy_select,
        formats=FORMATS,
        description="polars.LazyFrame, collected and stored as Parquet",
    ),
]
