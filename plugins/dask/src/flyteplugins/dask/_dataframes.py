"""Dask dataframes in the run's storage: a folder of Parquet (or CSV) part files, one per
partition, written by the cluster's workers in parallel and read back lazily.

Writing computes the frame with the default scheduler, which inside a Dask task is the task's
cluster (the core stores a plugin task's outputs while its cluster is up). Reading returns a
lazy ``dask.dataframe.DataFrame`` over the files; the data is read when it is computed, by the
cluster of the task that computes it. The part files are plain Parquet, so pandas, pyarrow and
polars consumers read the same folder, and this handler reads what they (or Spark) wrote.
Paths and credentials come from ``flyte.storage`` (the run's storage settings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flyte.extend import DataFrameHandler, require_columns, storage

FORMATS = ("parquet", "csv")


def _options(uri: str) -> dict[str, Any]:
    """fsspec options for ``uri`` as the run's storage settings give them (credentials, endpoint)."""
    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    return storage.get_configured_fsspec_kwargs(protocol) if protocol != "file" else {}


def write(value: Any, uri: str, fmt: str) -> None:
    import dask.dataframe as dd

    if isinstance(value, Iterator):  # chunks handed to DataFrame.from_local: one frame of them
        value = dd.concat(list(value))
    options = _options(uri)
    # Part names are zero-padded: readers that list the folder in name order keep the row order.
    if fmt == "parquet":
        value.to_parquet(
            uri, storage_options=options, write_metadata_file=False, name_function=lambda i: f"part.{i:06d}.parquet"
        )
    else:
        value.to_csv(storage.join(uri, "part.*.csv"), storage_options=options, index=False, name_function=_padded)


def _padded(i: int) -> str:
    return f"{i:06d}"


def read(uri: str, fmt: str) -> Any:
    import dask.dataframe as dd

    options = _options(uri)
    if fmt == "parquet":
        return dd.read_parquet(uri, storage_options=options)
    fs = storage.get_underlying_filesystem(path=uri)
    return dd.read_csv(storage.join(uri, "*.csv") if fs.isdir(uri) else uri, storage_options=options)


def tracker(value: Any) -> Callable[[Any], bool]:
    """A Dask frame is an immutable expression: its token names exactly what it computes."""
    from dask.base import tokenize

    token = tokenize(value)
    return lambda now: tokenize(now) == token


def select(value: Any, columns: tuple[str, ...]) -> Any:
    """Only the declared columns (still lazy: the others are never read)."""
    require_columns(value.columns, columns)
    return value[list(columns)]


HANDLERS = [
    DataFrameHandler(
        python_type="dask.dataframe:DataFrame",
        write=write,
        read=read,
        select=select,
        tracker=tracker,
        formats=FORMATS,
        description="dask.dataframe.DataFrame as a folder of Parquet part files, written by the workers",
    )
]
