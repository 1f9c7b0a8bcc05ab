"""Content hashing for cache keys (the public content_caching example's patterns): with a
HashFunction the key follows the data's content, without one it follows the data's location."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Annotated

import pandas as pd
import polars as pl

import flyte
from flyte import Cache
from flyte.io import DataFrame, Dir, File, HashFunction

SAMPLE = {
    "id": [1, 2, 3, 4, 5],
    "name": ["Alice", "Bob", "Charlie", "Diana", "Eve"],
    "value": [100, 200, 300, 400, 500],
}


def hash_pandas(df: pd.DataFrame) -> str:
    return str(pd.util.hash_pandas_object(df).sum())


def hash_polars(df: pl.DataFrame) -> str:
    return str(df.hash_rows().sum())


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


HashedPandas = Annotated[pd.DataFrame, HashFunction.from_fn(hash_pandas)]
HashedPolars = Annotated[pl.DataFrame, HashFunction.from_fn(hash_polars)]
HashedFile = Annotated[File, HashFunction.from_fn(hash_bytes)]
HashedDir = Annotated[Dir, HashFunction.from_fn(hash_bytes)]
env = flyte.TaskEnvironment(name="content_caching")
V1 = Cache(behavior="override", version_override="v1")


@env.task
async def produce_pandas() -> HashedPandas:
    return pd.DataFrame(SAMPLE)


@env.task
async def produce_pandas_elsewhere() -> HashedPandas:
    # Another producer, another location: the same content.
    return pd.DataFrame(SAMPLE).copy()


@env.task
async def produce_unhashed() -> pd.DataFrame:
    return pd.DataFrame(SAMPLE)


@env.task(cache=V1)
async def consume_pandas(df: pd.DataFrame) -> str:
    return f"{int(df['value'].sum())}-{random.random()}"


@env.task
async def produce_polars() -> HashedPolars:
    return pl.DataFrame(SAMPLE)


@env.task(cache=V1)
async def consume_polars(df: pl.DataFrame) -> str:
    return f"{int(df['value'].sum())}-{random.random()}"


@env.task
async def produce_flyte_dataframe() -> DataFrame:
    return await DataFrame.from_local(pd.DataFrame(SAMPLE), hash_method=HashFunction.from_fn(hash_pandas))


@env.task(cache=V1)
async def consume_flyte_dataframe(df: DataFrame) -> str:
    pdf = await df.open(pd.DataFrame).all()
    return f"{int(pdf['value'].sum())}-{random.random()}"


@env.task
async def produce_file(folder: str) -> File:
    path = Path(folder) / "data.csv"
    path.write_text("id,value\n1,100\n2,200\n")
    return await File.from_local(str(path), hash_method=HashFunction.from_fn(hash_bytes))


@env.task
async def produce_file_annotated(folder: str) -> HashedFile:
    path = Path(folder) / "other.csv"
    path.write_text("id,value\n1,100\n2,200\n")
    return await File.from_local(str(path))


@env.task(cache=V1)
async def consume_file(f: File) -> str:
    async with f.open("rb") as fh:
        return f"{hash_bytes(bytes(await fh.read()))}-{random.random()}"


@env.task
async def produce_dir(folder: str) -> Dir:
    (Path(folder) / "d").mkdir(exist_ok=True)
    (Path(folder) / "d" / "part.csv").write_text("id,value\n1,100\n")
    return await Dir.from_local(str(Path(folder) / "d"), dir_cache_key=hash_bytes(b"id,value\n1,100\n"))


@env.task
async def produce_dir_annotated(folder: str) -> HashedDir:
    (Path(folder) / "e").mkdir(exist_ok=True)
    (Path(folder) / "e" / "part.csv").write_text("id,value\n1,100\n")
    return await Dir.from_local(str(Path(folder) / "e"))


@env.task(cache=V1)
async def consume_dir(d: Dir) -> str:
    return f"{len([f async for f in d.walk()])}-{random.random()}"


def _cache_column(run) -> list[str]:
    return [a.cache for a in run.actions() if a.task.startswith("content_caching.consume")]


def test_pandas_driver_of_the_example_hits_on_the_second_call() -> None:
    @env.task
    async def pandas_driver() -> bool:
        df = await produce_pandas()
        r1 = await consume_pandas(df)
        r2 = await consume_pandas(df)
        return r1 == r2

    run = flyte.run(pandas_driver)
    assert run.outputs()[0] is True
    assert _cache_column(run) == ["written", "hit"]


def test_identical_content_from_two_producers_is_one_cache_key() -> None:
    @env.task
    async def driver_two_producers() -> list[str]:
        first = await consume_pandas(await produce_pandas())
        second = await consume_pandas(await produce_pandas_elsewhere())
        return [first, second]

    run = flyte.run(driver_two_producers)
    first, second = run.outputs()[0]
    assert first == second and _cache_column(run) == ["written", "hit"]
    # ... and across runs: a new run writes new data, the content (so the key) is the same.
    again = flyte.run(driver_two_producers)
    assert again.outputs() == [first, first] and _cache_column(again) == ["hit", "hit"]


def test_without_a_hash_the_key_follows_the_location() -> None:
    @env.task
    async def driver_unhashed() -> list[str]:
        a = await consume_pandas(await produce_unhashed())
        b = await consume_pandas(await produce_unhashed())
        return [a, b]

    run = flyte.run(driver_unhashed)
    a, b = run.outputs()[0]
    assert a != b and _cache_column(run) == ["written", "written"]


def test_polars_and_flyte_dataframe_patterns() -> None:
    @env.task
    async def driver_polars_flyte() -> list[bool]:
        p1 = await consume_polars(await produce_polars())
        p2 = await consume_polars(await produce_polars())
        f1 = await consume_flyte_dataframe(await produce_flyte_dataframe())
        f2 = await consume_flyte_dataframe(await produce_flyte_dataframe())
        return [p1 == p2, f1 == f2]

    assert flyte.run(driver_polars_flyte).outputs() == [True, True]


def test_file_and_dir_patterns(tmp_path: Path) -> None:
    @env.task
    async def driver_files(folder: str) -> list[bool]:
        f1 = await consume_file(await produce_file(folder))
        f2 = await consume_file(await produce_file_annotated(folder))  # another name, same bytes
        d1 = await consume_dir(await produce_dir(folder))
        d2 = await consume_dir(await produce_dir(folder))
        d3 = await consume_dir(await produce_dir_annotated(folder))
        d4 = await consume_dir(await produce_dir_annotated(folder))
        return [f1 == f2, d1 == d2, d3 == d4, d1 == d3]

    assert flyte.run(driver_files, folder=str(tmp_path)).outputs() == [True, True, True, False]


def test_the_root_action_is_keyed_by_content_too() -> None:
    """The example that passes a locally built DataFrame straight into flyte.run twice."""

    def build_input() -> DataFrame:
        return DataFrame.from_local_sync(pd.DataFrame(SAMPLE), hash_method=HashFunction.from_fn(hash_pandas))

    first = flyte.run(consume_flyte_dataframe, df=build_input())
    second = flyte.run(consume_flyte_dataframe, df=build_input())
    assert first.outputs() == second.outputs()
    assert [a.cache for a in second.actions()] == ["hit"]
