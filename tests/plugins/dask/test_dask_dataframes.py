"""A Dask task's DataFrame goes to the run's storage as Parquet part files written by the
cluster's workers, and comes back as dask, pandas, pyarrow or flyte.io.DataFrame."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pytest
from distributed import Client

import flyte
import flyte.io
from flyte.io import HashFunction
from flyteplugins.dask import Dask, WorkerGroup, _runner

pytestmark = pytest.mark.slow

dask_env = flyte.TaskEnvironment(
    name="dask_frames",
    plugin_config=Dask(workers=WorkerGroup(number_of_workers=2)),
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=120),  # one warm cluster for this module
)
plain_env = flyte.TaskEnvironment(name="frames_plain")
plain_env.add_dependency(dask_env)


@pytest.fixture(scope="module", autouse=True)
def one_cluster_for_the_module():
    yield
    _runner.engine.shutdown()  # the warm cluster


def _tag(part: pd.DataFrame) -> pd.DataFrame:
    return part.assign(pid=os.getpid())  # which process computed this partition


@dask_env.task
async def produce(n: int) -> tuple[dd.DataFrame, list[int]]:
    pdf = pd.DataFrame({"x": range(n), "y": [2 * i for i in range(n)]}, index=[f"r{i:03d}" for i in range(n)])
    frame = dd.from_pandas(pdf, npartitions=12).map_partitions(_tag)
    return frame, sorted(Client().run(os.getpid).values())


@dask_env.task
async def on_dask(frame: dd.DataFrame) -> dict:
    return {"type": type(frame).__name__, "sum": int(frame["y"].sum().compute()), "parts": frame.npartitions}


@dask_env.task
async def reference_on_dask(frame: flyte.io.DataFrame) -> int:
    return int((await frame.open(dd.DataFrame).all())["x"].max().compute())


@dask_env.task
async def from_pandas_producer(pdf: dd.DataFrame) -> int:
    return int(pdf["v"].sum().compute())


@plain_env.task
async def on_pandas(frame: pd.DataFrame) -> dict:
    return {"rows": len(frame), "index": list(frame.index), "x": list(frame["x"]), "pids": sorted(set(frame["pid"]))}


@plain_env.task
async def on_arrow(frame: pa.Table) -> int:
    return frame.num_rows


@plain_env.task
async def as_reference(frame: flyte.io.DataFrame) -> dict:
    return {"uri": frame.uri, "format": frame.format, "rows": len(await frame.open(pd.DataFrame).all())}


@plain_env.task
async def pandas_frame() -> pd.DataFrame:
    return pd.DataFrame({"v": [1, 2, 3]})


@plain_env.task
async def pipeline(n: int) -> dict:
    frame, worker_pids = await produce(n)
    return {
        "worker_pids": worker_pids,
        "pandas": await on_pandas(frame),
        "arrow": await on_arrow(frame),
        "reference": await as_reference(frame),
        "dask": await on_dask(frame),
        "dask_from_reference": await reference_on_dask(frame),
        "dask_from_pandas": await from_pandas_producer(await pandas_frame()),
    }


def test_a_dask_dataframe_is_written_by_the_workers_and_read_back_as_any_frame_type(flyte_home):
    flyte.init()
    out = flyte.run(pipeline, n=30).outputs()[0]
    expected_index = [f"r{i:03d}" for i in range(30)]
    assert out["pandas"]["rows"] == 30 and out["pandas"]["x"] == list(range(30))  # row order kept
    assert out["pandas"]["index"] == expected_index  # and the index
    assert set(out["pandas"]["pids"]) <= set(out["worker_pids"])  # computed by the workers, not here
    assert out["arrow"] == 30
    assert out["dask"] == {"type": "DataFrame", "sum": sum(2 * i for i in range(30)), "parts": 12}
    assert out["dask_from_reference"] == 29
    assert out["dask_from_pandas"] == 6  # a pandas task's single Parquet file, read as dask

    ref = out["reference"]
    assert ref["format"] == "parquet" and ref["rows"] == 30
    folder = Path(ref["uri"])
    assert folder.is_relative_to(flyte_home / "storage")  # the run's storage
    parts = sorted(p.name for p in folder.iterdir())
    assert parts == [f"part.{i:06d}.parquet" for i in range(12)]  # one file per partition


@dask_env.task
async def as_csv(n: int) -> flyte.io.DataFrame:
    frame = dd.from_pandas(pd.DataFrame({"x": range(n)}), npartitions=3)
    return await flyte.io.DataFrame.from_local(frame, format="csv")


@plain_env.task
async def read_csv(frame: flyte.io.DataFrame) -> list[int]:
    return list((await frame.open(pd.DataFrame).all())["x"])


@plain_env.task
async def csv_pipeline(n: int) -> dict:
    frame = await as_csv(n)
    return {"uri": frame.uri, "pandas": await read_csv(frame)}


def test_a_dask_dataframe_can_be_stored_as_csv_part_files():
    flyte.init()
    out = flyte.run(csv_pipeline, n=7).outputs()[0]
    assert out["pandas"] == list(range(7))
    assert sorted(p.name for p in Path(out["uri"]).iterdir()) == [f"part.{i:06d}.csv" for i in range(3)]


def test_the_handler_is_listed_and_tracks_unchanged_frames(fresh_registry):
    infos = {i.name: i for i in fresh_registry.infos()}
    assert "dask.dataframe:DataFrame" in infos["dask"].dataframe_types
    from flyteplugins.dask._dataframes import tracker

    frame = dd.from_pandas(pd.DataFrame({"x": [1, 2]}), npartitions=1)
    unchanged = tracker(frame)
    assert unchanged(frame) and not unchanged(frame.assign(y=1))  # a new expression is a new frame


def _content(df: pd.DataFrame) -> str:
    return str(pd.util.hash_pandas_object(df).sum())


@dask_env.task
async def hashed() -> Annotated[pd.DataFrame, HashFunction.from_fn(_content)]:
    return dd.from_pandas(pd.DataFrame({"v": [1, 2, 3]}), npartitions=2).compute()


@plain_env.task(cache=flyte.Cache(behavior="override", version_override="v1"))
async def expensive(df: pd.DataFrame) -> str:
    return f"sum={df['v'].sum()} token={uuid.uuid4().hex}"


@plain_env.task
async def hashed_pipeline() -> str:
    return await expensive(await hashed())


def test_a_content_hash_declared_on_a_dask_tasks_output_keys_the_cache():
    # The output is stored during the attempt (while the cluster is up); its hash survives.
    flyte.init()
    first, second = flyte.run(hashed_pipeline).outputs()[0], flyte.run(hashed_pipeline).outputs()[0]
    assert first == second and first.startswith("sum=6 ")


@plain_env.task
async def narrow_dask(frame: Annotated[dd.DataFrame, {"y": int}]) -> list[str]:
    return list(frame.columns)  # lazy: the other columns are never read


def test_a_dask_input_declared_with_columns_has_only_those():
    flyte.init()
    pdf = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    assert flyte.run(narrow_dask, frame=dd.from_pandas(pdf, npartitions=1)).outputs()[0] == ["y"]
