"""A dataframe type that names its columns (``Annotated[DataFrame, {"a": int}]``, the reference
SDK's spelling, as the BigQuery example's ``DogeCoinDataset`` declares a query's result) reads
only those columns, in that order, as flyte 2.12.1 does in local mode (checked side by side:
its reader passes the declared names to ``pd.read_parquet(columns=...)``)."""

from __future__ import annotations

import types
from collections import OrderedDict
from typing import Annotated

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import flyte
from flyte.extend import DataFrameHandler, hookimpl, require_columns
from flyte.io import DataFrame
from flyte.plugins import PluginRegistry, use_registry

env = flyte.TaskEnvironment(name="columns")

Narrow = Annotated[DataFrame, {"b": str, "a": int}]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})


@env.task
async def wide() -> pd.DataFrame:
    return _frame()


@env.task
async def narrow_out() -> Narrow:
    return DataFrame.wrap_df(_frame())


@env.task
async def read_ref(df: Narrow) -> list[str]:
    return list((await df.open(pd.DataFrame).all()).columns)


@env.task
async def read_pandas(df: Annotated[pd.DataFrame, OrderedDict(c=float, a=int)]) -> list[str]:
    return list(df.columns)


@env.task
async def read_arrow(df: Annotated[pa.Table, {"b": str}]) -> list[str]:
    return df.column_names


@env.task
async def read_polars(df: Annotated[pl.DataFrame, {"a": int}]) -> list[str]:
    return df.columns


@env.task
async def read_chunks(df: Narrow) -> list[list[str]]:
    return [list(chunk.columns) async for chunk in df.open(pd.DataFrame).iter()]


@env.task
async def read_all(df: DataFrame) -> list[str]:
    return list((await df.open(pd.DataFrame).all()).columns)


@env.task
async def pipeline() -> list:
    produced = await wide()
    narrow = await narrow_out()
    return [
        await read_ref(produced),
        await read_pandas(produced),
        await read_arrow(produced),
        await read_polars(produced),
        await read_chunks(produced),
        list((await narrow.open(pd.DataFrame).all()).columns),  # the caller of a narrow output
        await read_all(narrow),  # a task declaring no columns sees them all again
    ]


@pytest.fixture(autouse=True)
def _local():
    flyte.init()


def test_a_declared_column_list_is_what_a_task_reads():
    assert flyte.run(pipeline).outputs()[0] == [
        ["b", "a"],
        ["c", "a"],
        ["b"],
        ["a"],
        [["b", "a"]],
        ["b", "a"],
        ["a", "b", "c"],
    ]


@env.task
async def narrow_pandas() -> Annotated[pd.DataFrame, {"c": float}]:
    return _frame()


def test_a_run_output_declared_with_columns_has_only_those():
    assert list(flyte.run(narrow_pandas).outputs()[0].columns) == ["c"]


@env.task
async def needs_missing(df: Annotated[pd.DataFrame, {"a": int, "zz": str}]) -> int:
    return len(df)


def test_a_declared_column_the_data_lacks_is_a_clear_error():
    with pytest.raises(ValueError, match=r"declared column\(s\) 'zz' not in the data \(its columns: a, b, c\)"):
        flyte.run(needs_missing, df=_frame())


class Grid:
    """A dataframe type whose handler cannot select columns."""

    def __init__(self, rows: list):
        self.rows = rows


def _grid_plugin() -> types.ModuleType:
    module = types.ModuleType("grid_plugin")

    def write(value, uri, fmt):
        pd.DataFrame(value.rows).to_parquet(uri)

    @hookimpl
    def flyte_dataframe_handlers():
        return [DataFrameHandler(python_type=Grid, write=write, read=lambda uri, fmt: Grid(pd.read_parquet(uri)))]

    module.flyte_dataframe_handlers = flyte_dataframe_handlers
    return module


def test_a_handler_without_select_refuses_declared_columns():
    registry = PluginRegistry()
    registry.register(_grid_plugin(), "grid", distribution="grid-dist")
    with use_registry(registry):
        grid_env = flyte.TaskEnvironment(name="grids")

        @grid_env.task
        async def count(df: Annotated[Grid, {"a": int}]) -> int:
            return 0

        with pytest.raises(TypeError, match=r"declares columns \(a\) but the .*Grid handler cannot select columns"):
            flyte.run(count, df=_frame())


def test_require_columns_names_the_missing_and_the_present():
    require_columns(["a", "b"], ("b",))
    with pytest.raises(ValueError, match=r"'x', 'y' not in the data \(its columns: a, b\)"):
        require_columns(["a", "b"], ("x", "a", "y"))
