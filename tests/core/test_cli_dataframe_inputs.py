"""``flyte run FILE TASK --df PATH`` for a dataframe input, as the public polars and BigQuery
examples are run from the command line: a Parquet or CSV file, or a folder of Parquet files,
becomes a reference the task reads as the type it declares (``pandas.DataFrame``,
``polars.DataFrame``, ``polars.LazyFrame``, ``flyte.io.DataFrame``, also inside ``Annotated``);
a path that is not there is a usage error naming the option, the value and what is accepted."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from flyte.cli.main import build_cli

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("polars")

TASKS = textwrap.dedent("""
    from typing import Annotated

    import pandas as pd
    import polars as pl

    import flyte
    from flyte.io import DataFrame

    env = flyte.TaskEnvironment(name="dataframe_inputs")

    Salaries = Annotated[DataFrame, {"name": str, "salary": float}]

    @env.task
    def payroll(df: pd.DataFrame) -> float:
        return float(df["salary"].sum())

    @env.task
    def active(df: pl.DataFrame) -> list[str]:
        return df.filter(pl.col("active"))["name"].to_list()

    @env.task
    def lazy_count(lf: pl.LazyFrame) -> int:
        return lf.collect().height

    @env.task
    async def counted(sd: Salaries) -> int:
        return len(await sd.open(pd.DataFrame).all())
""")


@pytest.fixture
def tasks_file(tmp_path):
    path = tmp_path / "dataframe_input_tasks.py"
    path.write_text(TASKS)
    return path


@pytest.fixture
def table():
    return pd.DataFrame({"name": ["ann", "bob", "cy"], "salary": [1.0, 2.0, 4.5], "active": [True, False, True]})


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), ["run", *args], prog_name="flyte")


def _result_line(result) -> str:
    # The result is the line before "run <name> succeeded: ...".
    lines = result.output.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("run ") and " succeeded: " in line)
    return lines[end - 1]


def test_a_parquet_file_is_read_as_the_pandas_dataframe_the_task_declares(tasks_file, tmp_path, table):
    table.to_parquet(tmp_path / "pay.parquet")
    result = invoke(str(tasks_file), "payroll", "--df", str(tmp_path / "pay.parquet"))
    assert result.exit_code == 0, result.output
    assert _result_line(result) == "7.5"


def test_a_csv_file_is_read_as_csv(tasks_file, tmp_path, table):
    table.to_csv(tmp_path / "pay.csv", index=False)
    result = invoke(str(tasks_file), "active", "--df", str(tmp_path / "pay.csv"))
    assert result.exit_code == 0, result.output
    assert '"ann"' in result.output and '"cy"' in result.output and '"bob"' not in result.output


def test_a_folder_of_parquet_files_is_one_table(tasks_file, tmp_path, table, monkeypatch):
    parts = tmp_path / "parts"
    parts.mkdir()
    table.to_parquet(parts / "a.parquet")
    table.to_parquet(parts / "b.parquet")
    monkeypatch.chdir(tmp_path)  # a relative path, from the working directory
    result = invoke(str(tasks_file), "lazy_count", "--lf", "parts")
    assert result.exit_code == 0, result.output
    assert _result_line(result) == "6"


def test_an_annotated_flyte_dataframe_takes_a_path(tasks_file, tmp_path, table):
    table.to_parquet(tmp_path / "pay.parquet")
    result = invoke(str(tasks_file), "counted", "--sd", str(tmp_path / "pay.parquet"))
    assert result.exit_code == 0, result.output
    assert _result_line(result) == "3"


def test_a_missing_path_is_a_usage_error_naming_option_value_and_accepted(tasks_file, tmp_path):
    missing = str(tmp_path / "nope.parquet")
    result = invoke(str(tasks_file), "payroll", "--df", missing)
    assert result.exit_code == 2, result.output
    assert "Invalid value for --df" in result.output
    assert repr(missing) in result.output
    assert "Parquet or CSV file" in result.output and "s3://" in result.output
    assert "Traceback" not in result.output
