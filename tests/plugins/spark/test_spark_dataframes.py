"""Spark DataFrames cross task boundaries through run storage (Parquet part files), with a real
Spark: a Spark task's output reaches pandas, flyte.io.DataFrame and Spark consumers, even though
its session stops with the attempt; a pandas table reaches a Spark task."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import pytest
from pyspark.sql import DataFrame as SparkDataFrame
from pyspark.sql import functions as F

import flyte
import flyte.io
from flyteplugins.spark import Spark, spark_session

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("spark_local")]

CONF = Spark(spark_conf={"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 2})
spark_env = flyte.TaskEnvironment(name="spark_frames", plugin_config=CONF)  # not reusable: stops per attempt
plain = flyte.TaskEnvironment(name="spark_frames_plain")
driver = flyte.TaskEnvironment(name="spark_frames_driver", depends_on=[spark_env, plain])


@spark_env.task
async def produce(n: int) -> SparkDataFrame:
    spark = spark_session()
    return spark.range(n).withColumn("square", F.col("id") * F.col("id")).repartition(2)


@plain.task
async def as_pandas(df: pd.DataFrame) -> int:
    return int(df["square"].sum())


@plain.task
async def as_reference(df: flyte.io.DataFrame) -> list:
    frame = await df.open(pd.DataFrame).all()
    return [df.uri, sorted(frame["id"].tolist())]


@spark_env.task
async def as_spark(df: SparkDataFrame) -> list:
    same_session = df.sparkSession is spark_session()
    return [same_session, df.agg(F.sum("square")).collect()[0][0]]


@driver.task
async def pipeline(n: int) -> list:
    frame = await produce(n)  # the caller outside a Spark session holds a reference
    return [type(frame).__name__, await as_pandas(frame), await as_reference(frame), await as_spark(frame)]


def test_a_spark_dataframe_is_stored_as_parquet_and_read_by_every_kind_of_consumer():
    flyte.init()
    kind, total, (uri, ids), (same_session, spark_total) = flyte.run(pipeline, 5).outputs()[0]
    assert kind == "DataFrame" and total == 30 == spark_total  # 0+1+4+9+16
    assert ids == [0, 1, 2, 3, 4]
    assert same_session  # read by the consuming task's own session
    parts = list(Path(uri).glob("part-*.parquet"))
    assert len(parts) == 2 and (Path(uri) / "_SUCCESS").exists()  # Spark's folder of part files


@plain.task
async def pandas_table() -> pd.DataFrame:
    return pd.DataFrame({"city": ["a", "b", "a"], "sales": [1, 2, 3]})


@spark_env.task
async def totals(df: SparkDataFrame) -> dict:
    rows = df.groupBy("city").agg(F.sum("sales").alias("total")).collect()
    return {row["city"]: int(row["total"]) for row in rows}


@driver.task
async def pandas_to_spark() -> dict:
    return await totals(await pandas_table())


def test_a_pandas_table_reaches_a_spark_task_as_a_spark_dataframe():
    flyte.init()
    assert flyte.run(pandas_to_spark).outputs() == {"a": 4, "b": 2}


def test_outside_a_spark_session_the_output_is_a_reference_and_a_plain_task_cannot_declare_spark():
    flyte.init()
    out = flyte.run(produce, 3).outputs()[0]
    assert isinstance(out, flyte.io.DataFrame)
    assert sorted(out.open(pd.DataFrame).all_sync()["square"]) == [0, 1, 4]

    @plain.task
    async def wants_spark(df: SparkDataFrame) -> int:
        return df.count()

    with pytest.raises(RuntimeError, match="needs a Spark session: declare it in a Spark task"):
        flyte.run(wants_spark, out)


@spark_env.task
async def produce_csv(n: int) -> flyte.io.DataFrame:
    frame = spark_session().range(n).withColumn("double", F.col("id") * 2)
    return flyte.io.DataFrame.from_local_sync(frame, format="csv")


@driver.task
async def csv_round_trip(n: int) -> list:
    ref = await produce_csv(n)
    return [ref.format, await spark_sum_of_double(ref)]


@spark_env.task
async def spark_sum_of_double(df: SparkDataFrame) -> int:
    return int(df.agg(F.sum("double")).collect()[0][0])


def test_csv_is_written_and_read_back_by_spark():
    flyte.init()
    assert flyte.run(csv_round_trip, 4).outputs() == ["csv", 12]


@spark_env.task
async def narrow_spark(df: Annotated[SparkDataFrame, {"square": int}]) -> list:
    return df.columns


@driver.task
async def spark_columns() -> list:
    return await narrow_spark(await produce(3))  # columns id, square


def test_a_spark_input_declared_with_columns_has_only_those():
    flyte.init()
    assert flyte.run(spark_columns).outputs()[0] == ["square"]
