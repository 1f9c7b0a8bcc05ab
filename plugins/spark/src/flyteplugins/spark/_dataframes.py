"""Spark DataFrames in run storage: written by Spark as a folder of Parquet (or CSV) part files,
read back by Spark in the session of the task that declares them.

A Spark DataFrame lives in a session, so the handler is ``engine_bound``: the core reads and
stores it at the body of a Spark task, while the session is up. Other handlers (pandas,
pyarrow, polars) read the same folders, so a Spark task's output reaches any consumer.
"""

from __future__ import annotations

from typing import Any

FORMATS = ("parquet", "csv")
# Object stores as Hadoop's file systems name them (Spark needs their connectors on its classpath).
HADOOP_SCHEMES = {"s3://": "s3a://"}


def _spark_path(uri: str) -> str:
    for ours, hadoops in HADOOP_SCHEMES.items():
        if uri.startswith(ours):
            return hadoops + uri[len(ours) :]
    return uri


def write(df: Any, uri: str, fmt: str) -> None:
    # Spark commits a folder at once (its files appear when the job succeeds), and refuses a
    # location that exists: the core hands it a fresh one.
    writer = df.write.mode("errorifexists").format(fmt)
    if fmt == "csv":
        writer = writer.option("header", "true")
    writer.save(_spark_path(uri))


def read(uri: str, fmt: str) -> Any:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None:
        raise RuntimeError(
            f"reading {uri} as a pyspark.sql.DataFrame needs a Spark session: declare it in a Spark task "
            "(plugin_config=Spark(...)), or declare flyte.io.DataFrame or pandas.DataFrame here"
        )
    reader = SparkSession.builder.getOrCreate().read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true").option("inferSchema", "true")
    return reader.load(_spark_path(uri))


def select(df: Any, columns: tuple[str, ...]) -> Any:
    """Only the declared columns (a projection Spark pushes down to the files)."""
    from flyte.extend import require_columns

    require_columns(df.columns, columns)
    return df.select(*columns)


def tracker(_df: Any):
    """A Spark DataFrame is immutable: the one handed on is the one stored."""
    return lambda _value: True
