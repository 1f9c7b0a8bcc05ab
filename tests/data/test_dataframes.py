"""flyte.io.DataFrame and raw dataframes between local tasks: pandas, pyarrow, polars, chunks,
CSV, the reference SDK's examples' shapes, and the handler extension point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import flyte
import flyte.io
from flyte.extend import DataFrameHandler, hookimpl
from flyte.io import DataFrame
from flyte.runtime import store as st

EMPLOYEES = {
    "employee_id": range(1001, 1005),
    "name": ["Alice", "Bob", "Charlie", "Diana"],
    "hire_date": pd.to_datetime(["2018-01-15", "2019-03-22", "2020-07-10", "2017-11-01"]),
}
PAY = {
    "employee_id": range(1001, 1005),
    "salary": [55000.0, 75000.0, float("nan"), 50000.0],
    "projects": [["Recruiting"], ["Platform", "API"], [], ["SEO", "Ads"]],
}


def test_import_flyte_stays_light() -> None:
    code = (
        "import sys, flyte, flyte.io, flyte.storage\n"
        "env = flyte.TaskEnvironment(name='x')\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'polars', 'numpy', 's3fs', 'fsspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_reference_dataframe_example_runs() -> None:
    """The shape of the public dataframes example: raw pandas out, flyte DataFrame out,
    both consumed as pandas, a flyte DataFrame read lazily with open().all()."""
    env = flyte.TaskEnvironment(name="dataframe_usage")
    seen: dict = {}

    @env.task
    async def create_raw_dataframe() -> pd.DataFrame:
        return pd.DataFrame(EMPLOYEES)

    @env.task
    async def create_flyte_dataframe() -> Annotated[flyte.io.DataFrame, "parquet"]:
        return flyte.io.DataFrame.from_df(pd.DataFrame(PAY))

    @env.task
    async def join_data(raw_dataframe: pd.DataFrame, flyte_dataframe: pd.DataFrame) -> flyte.io.DataFrame:
        assert isinstance(flyte_dataframe, pd.DataFrame)
        return flyte.io.DataFrame.from_df(raw_dataframe.merge(flyte_dataframe, on="employee_id"))

    @env.task
    async def download_data(joined_df: flyte.io.DataFrame) -> None:
        seen["df"] = await joined_df.open(pd.DataFrame).all()
        seen["sync"] = joined_df.open(pd.DataFrame).all_sync()

    @env.task
    async def main() -> None:
        raw_df = await create_raw_dataframe()
        flyte_df = await create_flyte_dataframe()
        joined_df = await join_data(raw_df, flyte_df)
        await download_data(joined_df)

    flyte.run(main)
    df = seen["df"]
    assert list(df.columns) == ["employee_id", "name", "hire_date", "salary", "projects"]
    assert df["hire_date"].dtype.kind == "M" and df["salary"].isna().sum() == 1
    assert [list(p) for p in df["projects"]] == [["Recruiting"], ["Platform", "API"], [], ["SEO", "Ads"]]
    pd.testing.assert_frame_equal(df, seen["sync"])


def test_outputs_are_stored_never_inlined_and_do_not_count_against_the_limit() -> None:
    env = flyte.TaskEnvironment(name="big")

    @env.task(max_inline_io_bytes=1024)
    async def big() -> pd.DataFrame:
        return pd.DataFrame({"x": range(100_000)})

    @env.task(max_inline_io_bytes=1024)
    async def main() -> int:
        return int((await big())["x"].sum())

    run = flyte.run(main)
    assert run.outputs() == sum(range(100_000))
    (child,) = [a for a in run.actions() if a.task == "big.big"]
    assert '"$t":"dataframe"' in child.outputs and "pickle" not in child.outputs and len(child.outputs) < 400


def test_a_consumer_gets_its_own_copy_and_the_callers_changes_are_passed_on() -> None:
    env = flyte.TaskEnvironment(name="copies")

    @env.task
    async def make() -> pd.DataFrame:
        return pd.DataFrame({"v": [1, 2, 3]})

    @env.task
    async def bump(df: pd.DataFrame) -> int:
        df.loc[0, "v"] = 100  # the consumer's copy: the caller's frame does not change
        return int(df["v"].sum())

    @env.task
    async def total(df: pd.DataFrame) -> int:
        return int(df["v"].sum())

    @env.task
    async def main() -> list[int]:
        df = await make()
        first = await bump(df)
        unchanged = await total(df)
        df.loc[1, "v"] = 20  # a change in the caller is what the next task sees
        changed = await total(df)
        return [first, unchanged, changed]

    assert flyte.run(main).outputs() == [105, 6, 24]


def test_pyarrow_and_polars_and_conversions_between_them() -> None:
    env = flyte.TaskEnvironment(name="engines")

    @env.task
    def arrow() -> pa.Table:
        return pa.table({"a": [1, 2, 3]})

    @env.task
    def polars_frame() -> pl.DataFrame:
        return pl.DataFrame({"a": [4, 5], "b": ["x", "y"]})

    @env.task
    def lazy(lf: pl.LazyFrame) -> pl.DataFrame:
        assert isinstance(lf, pl.LazyFrame)
        return lf.select(pl.col("a") * 2).collect()

    @env.task
    def as_pandas(t: pd.DataFrame, p: pd.DataFrame) -> int:
        return int(t["a"].sum() + p["a"].sum())

    @env.task
    def to_flyte(df: pl.DataFrame) -> flyte.io.DataFrame:
        return flyte.io.DataFrame.wrap_df(df)

    @env.task
    def from_flyte(df: flyte.io.DataFrame) -> pl.DataFrame:
        return df  # the caller gets it as the declared polars frame

    @env.task
    def main() -> list:
        t, p = arrow(), polars_frame()
        assert isinstance(t, pa.Table) and isinstance(p, pl.DataFrame)
        back = from_flyte(to_flyte(p))
        assert isinstance(back, pl.DataFrame)
        return [as_pandas(t, p), lazy(p)["a"].to_list(), back.equals(p)]

    assert flyte.run(main).outputs() == [15, [8, 10], True]


def test_chunks_are_written_and_read_one_at_a_time() -> None:
    def chunks():
        for i in range(5):
            yield pd.DataFrame({"i": [i] * 1000, "x": range(i * 1000, (i + 1) * 1000)})

    ref = DataFrame.from_local_sync(chunks())
    sizes = [len(c) for c in ref.open(pd.DataFrame).iter_sync()]
    assert sizes == [1000] * 5
    import asyncio

    async def read() -> list[int]:
        return [int(c["i"].iloc[0]) async for c in ref.open(pd.DataFrame).iter()]

    assert asyncio.run(read()) == [0, 1, 2, 3, 4]
    assert len(ref.open(pa.Table).all_sync()) == 5000


def test_csv_format_and_existing_remote_folders(tmp_path: Path) -> None:
    ref = DataFrame.from_local_sync(pd.DataFrame({"a": [1, 2]}), format="csv")
    assert ref.format == "csv" and Path(ref.uri).read_text().startswith('"a"')
    assert ref.open(pd.DataFrame).all_sync()["a"].tolist() == [1, 2]
    folder = tmp_path / "spark-like"
    folder.mkdir()
    pd.DataFrame({"a": [1]}).to_parquet(folder / "part-0000.parquet")
    pd.DataFrame({"a": [2]}).to_parquet(folder / "part-0001.parquet")
    (folder / "_SUCCESS").write_text("")
    existing = DataFrame.from_existing_remote(str(folder), format="parquet")
    assert sorted(existing.open(pd.DataFrame).all_sync()["a"]) == [1, 2]
    with pytest.raises(ValueError, match=r"df.open\(pandas.DataFrame\).all\(\)"):
        existing.all_sync()
    with pytest.raises(ValueError, match="format 'xml' is not supported"):
        DataFrame.from_local_sync(pd.DataFrame({"a": [1]}), format="xml")


class Frame:
    """A toy dataframe type of a plugin: rows of dicts."""

    def __init__(self, rows: list[dict]):
        self.rows = rows


def _write(value: Frame, uri: str, fmt: str) -> None:
    import json

    import flyte.storage

    with flyte.storage.open_sync(uri, "w") as handle:
        json.dump(value.rows, handle)


def _read(uri: str, fmt: str) -> Frame:
    import json

    import flyte.storage

    with flyte.storage.open_sync(uri, "r") as handle:
        return Frame(json.load(handle))


class FramePlugin:
    @hookimpl
    def flyte_dataframe_handlers(self) -> list[DataFrameHandler]:
        return [DataFrameHandler(python_type=Frame, write=_write, read=_read, formats=("json",))]


def test_a_plugin_adds_a_dataframe_type_through_the_hook(fresh_registry) -> None:
    fresh_registry.register(FramePlugin(), "frames", distribution="frames-plugin")
    env = flyte.TaskEnvironment(name="frames")

    @env.task
    def make() -> Frame:
        return Frame([{"a": 1}, {"a": 2}])

    @env.task
    def size(f: Frame) -> int:
        return len(f.rows)

    @env.task
    def lazily(f: flyte.io.DataFrame) -> str:
        return f.format

    @env.task
    def main() -> list:
        f = make()
        return [size(f), lazily(f)]

    assert flyte.run(main).outputs() == [2, "json"]
    info = {i.name: i for i in fresh_registry.infos()}["frames"]
    assert info.dataframe_types == (f"{Frame.__module__}:Frame",)


def test_reading_as_a_type_no_plugin_handles_is_a_clear_error() -> None:
    ref = DataFrame.from_local_sync(pd.DataFrame({"a": [1]}))
    with pytest.raises(TypeError, match=r"no dataframe handler for .*Frame .*installed: "):
        ref.open(Frame).all_sync()


def test_type_checks_accept_tables_as_declared_and_still_refuse_the_rest() -> None:
    env = flyte.TaskEnvironment(name="checked")

    @env.task
    def rows(df: pd.DataFrame) -> int:
        return len(df)

    @env.task
    def wrap(df: flyte.io.DataFrame) -> int:
        return len(df.open(pd.DataFrame).all_sync())

    @env.task
    def main() -> list[int]:
        ref = DataFrame.from_local_sync(pd.DataFrame({"a": [1, 2]}))
        return [rows(ref), rows(pa.table({"a": [1]})), wrap(pd.DataFrame({"a": [1, 2, 3]}))]

    assert flyte.run(main).outputs() == [2, 1, 3]
    with pytest.raises(
        flyte.errors.InputTypeError, match=r"input .df. expects pandas(\.core\.frame)?\.DataFrame, got int 5"
    ):
        flyte.run(rows, 5)
    with pytest.raises(flyte.errors.InputTypeError, match="input 'df' expects flyte.io.DataFrame"):
        flyte.run(wrap, "not a table")


def test_frames_still_move_where_scalar_annotations_let_calls_skip_the_search() -> None:
    """A task whose annotations admit only scalars skips looking for frames in its inputs and
    output; a frame that reaches it anyway (a default, accepted unchecked) is stored as before,
    and one returned against a scalar annotation fails its check."""
    env = flyte.TaskEnvironment(name="scalars")
    default = pd.DataFrame({"x": [1, 2, 3]})

    @env.task
    async def rows(n: int | None = default) -> int:  # type: ignore[assignment]
        assert isinstance(n, flyte.io.DataFrame)  # stored on the way in, as any frame is
        return len(await n.open(pd.DataFrame).all())

    @env.task
    async def counted(n: int, df: pd.DataFrame) -> int:
        return n + len(df)

    @env.task
    async def returns_a_frame() -> int:
        return pd.DataFrame({"x": [1]})  # type: ignore[return-value]

    @env.task
    async def main() -> list[int]:
        return [await rows(), await counted(1, pd.DataFrame({"x": [1, 2]}))]

    run = flyte.run(main)
    assert run.outputs() == [3, 3]
    with st.reader() as conn:  # the records see references, never a pickled frame
        inputs = {r["task"]: r["inputs"] for r in st.action_rows(conn, run.name, None, -1, 0)}
    for task in ("scalars.rows", "scalars.counted"):
        assert '"$t":"dataframe"' in inputs[task] and "pickle" not in inputs[task]
    with pytest.raises(
        flyte.errors.OutputTypeError, match="(?s)returned DataFrame .*, but its return annotation is int"
    ):
        flyte.run(returns_a_frame)
