"""flyteplugins-snowflake on the real driver against fakesnow's server (extended by the tests
to script query states and record cancellations)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pandas as pd
import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.errors import MaxRuntimeExceededError, PermanentConnectorError, SecretNotFoundError
from flyte.io import DataFrame
from flyte.remote import Run
from flyte.runtime import store as st
from flyte.runtime.connectors import ConnectorStateWarning
from flyteplugins.connectors.snowflake import Snowflake as PublicPathSnowflake
from flyteplugins.snowflake import Snowflake, SnowflakeConfig


@pytest.fixture(autouse=True)
def local():
    flyte.init()


def config(fake, database: str = "ANALYTICS", schema: str = "PUBLIC") -> SnowflakeConfig:
    return SnowflakeConfig(
        account="myorg-myaccount",
        user="flyte_user",
        database=database,
        schema=schema,
        warehouse="COMPUTE_WH",
        connection_kwargs={"role": "ETL_ROLE", **fake.connection_kwargs()},
    )


def query(fake, name: str, sql: str, **kwargs) -> Snowflake:
    return Snowflake(
        name=name,
        query_template=sql,
        plugin_config=config(fake),
        snowflake_private_key="snowflake",
        snowflake_private_key_passphrase="snowflake_passphrase",
        **kwargs,
    )


def run_sql(fake, sql: str, **kwargs):
    """Run one statement through a Snowflake task; its rows as pandas."""
    task = query(fake, "adhoc", sql, output_dataframe_type=DataFrame, **kwargs)
    frame = flyte.run(task, **kwargs.get("_inputs", {})).outputs()[0]
    return frame.open(pd.DataFrame).all_sync()


def test_the_public_example_runs_end_to_end(database, snowflake_secrets):
    fake = database
    create_staging = PublicPathSnowflake(
        name="create_staging",
        query_template="""
            CREATE TABLE IF NOT EXISTS staging.daily_events (
                event_id STRING,
                event_date DATE,
                user_id STRING,
                event_type STRING,
                payload VARIANT
            )
        """,
        plugin_config=config(fake),
        snowflake_private_key="snowflake",
        snowflake_private_key_passphrase="snowflake_passphrase",
    )
    insert_events = PublicPathSnowflake(
        name="insert_event",
        query_template="""
            INSERT INTO staging.daily_events (event_id, event_date, user_id, event_type)
            VALUES (%(event_id)s, %(event_date)s, %(user_id)s, %(event_type)s)
        """,
        plugin_config=config(fake),
        inputs={"event_id": list[str], "event_date": list[str], "user_id": list[str], "event_type": list[str]},
        snowflake_private_key="snowflake",
        snowflake_private_key_passphrase="snowflake_passphrase",
        batch=True,
    )
    daily_summary = PublicPathSnowflake(
        name="daily_summary",
        query_template="""
            SELECT
                event_type,
                COUNT(*) AS event_count,
                COUNT(DISTINCT user_id) AS unique_users
            FROM staging.daily_events
            WHERE event_date = %(report_date)s
            GROUP BY event_type
            ORDER BY event_count DESC
        """,
        plugin_config=config(fake),
        inputs={"report_date": str},
        output_dataframe_type=DataFrame,
        snowflake_private_key="snowflake",
        snowflake_private_key_passphrase="snowflake_passphrase",
    )
    snowflake_env = flyte.TaskEnvironment.from_task("snowflake_env", create_staging, insert_events, daily_summary)
    env = flyte.TaskEnvironment(
        name="analytics_env",
        resources=flyte.Resources(memory="512Mi"),
        secrets=[
            flyte.Secret(key="snowflake", as_env_var="SNOWFLAKE_PRIVATE_KEY"),
            flyte.Secret(key="snowflake_passphrase", as_env_var="SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"),
        ],
        depends_on=[snowflake_env],
    )

    @env.task
    async def generate_report(summary: DataFrame) -> dict:
        df = await summary.open(pd.DataFrame).all()
        return {
            "total_events": int(df["event_count"].sum()),
            "top_event_type": df.iloc[0]["event_type"],
            "event_types_count": len(df),
        }

    @env.task
    async def run_daily_pipeline(
        event_ids: list[str], event_dates: list[str], user_ids: list[str], event_types: list[str]
    ) -> dict:
        await create_staging()
        await insert_events(event_id=event_ids, event_date=event_dates, user_id=user_ids, event_type=event_types)
        summary = await daily_summary(report_date=event_dates[0])
        return await generate_report(summary=summary)

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConnectorStateWarning)
        run = flyte.with_runcontext(mode="local").run(
            run_daily_pipeline,
            event_ids=["event-1", "event-2", "event-3"],
            event_dates=["2023-01-01", "2023-01-01", "2023-01-02"],
            user_ids=["user-1", "user-2", "user-1"],
            event_types=["click", "click", "view"],
        )
    assert run.outputs() == {"total_events": 2, "top_event_type": "click", "event_types_count": 1}
    with st.reader() as conn:
        jobs = st.connector_jobs(conn, run.name)
    assert [j["state"] for j in jobs] == ["SUCCEEDED"] * 3
    assert all(json.loads(j["metadata"])["query_id"] for j in jobs)
    # The result is Parquet in the run's storage, not a pointer into Snowflake's result cache.
    summary_action = next(a for a in Run.get(run.name).actions() if a.task == "daily_summary")
    assert ".parquet" in summary_action.outputs or "parquet" in summary_action.outputs


def test_injection_attempts_are_stored_literally_and_the_text_is_sent_as_written(database, snowflake_secrets):
    fake = database
    run_sql(fake, "CREATE OR REPLACE TABLE notes (id INT, body STRING)")
    insert = query(fake, "insert_note", "INSERT INTO notes VALUES (%(id)s, %(body)s)", inputs={"id": int, "body": str})
    hostile = ["o'brien'); DROP TABLE notes; --", "%(id)s", "\\'; select 1; --", "a  b\n-- not a comment"]
    for i, body in enumerate(hostile):
        flyte.run(insert, id=i, body=body)
    rows = run_sql(fake, "SELECT id, body FROM notes ORDER BY id")
    assert rows["body"].tolist() == hostile
    # Whitespace inside a literal and a line after a comment are kept: the text is not rewritten.
    text = "SELECT 'a  b' AS spaced, id\nFROM notes -- the table\nWHERE id = 1\n"
    rows = run_sql(fake, text)
    assert rows.to_dict("records") == [{"spaced": "a  b", "id": 1}]


def test_parameters_of_every_supported_type(database, snowflake_secrets):
    fake = database
    run_sql(
        fake,
        "CREATE OR REPLACE TABLE typed (s STRING, i INT, f DOUBLE, b BOOLEAN, d DATE, ts TIMESTAMP_NTZ, n NUMBER(10, 2), z STRING)",
    )
    values = {
        "s": "naïve ☃",
        "i": -(2**40),
        "f": 2.5,
        "b": True,
        "d": dt.date(2024, 2, 29),
        "ts": dt.datetime(2024, 2, 29, 13, 14, 15),
        "n": decimal.Decimal("12.34"),
        "z": None,
    }
    types = {
        "s": str,
        "i": int,
        "f": float,
        "b": bool,
        "d": dt.date,
        "ts": dt.datetime,
        "n": decimal.Decimal,
        "z": str | None,
    }
    insert = query(
        fake,
        "insert_typed",
        "INSERT INTO typed VALUES (%(s)s, %(i)s, %(f)s, %(b)s, %(d)s, %(ts)s, %(n)s, %(z)s)",
        inputs=types,
    )
    flyte.run(insert, **values)
    select = query(
        fake,
        "select_typed",
        "SELECT * FROM typed WHERE s = %(s)s AND i = %(i)s AND d = %(d)s AND b = %(b)s",
        inputs={"s": str, "i": int, "d": dt.date, "b": bool},
        output_dataframe_type=pd.DataFrame,
    )
    (row,) = flyte.run(select, s=values["s"], i=values["i"], d=values["d"], b=True).outputs()[0].to_dict("records")
    assert row["s"] == values["s"] and row["i"] == values["i"] and row["f"] == 2.5 and row["b"] is True
    assert pd.Timestamp(row["d"]).date() == values["d"] and pd.Timestamp(row["ts"]) == pd.Timestamp(values["ts"])
    assert decimal.Decimal(str(row["n"])) == values["n"] and row["z"] is None


def test_every_snowflake_state_is_followed(database, snowflake_secrets):
    fake = database
    fake.script(
        ["RESUMING_WAREHOUSE", "QUEUED", "QUEUED_REPARING_WAREHOUSE", "BLOCKED", "NO_DATA", "RUNNING", "SUCCESS"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConnectorStateWarning)  # every one of them is a known phase
        assert run_sql(fake, "SELECT 1 AS one").to_dict("records") == [{"one": 1}]
    fake.script(["RESTARTED", "RESTARTED", "SUCCESS"])
    with pytest.warns(ConnectorStateWarning, match="'RESTARTED'.*treating it as still running"):
        assert run_sql(fake, "SELECT 2 AS two").to_dict("records") == [{"two": 2}]


def test_a_transient_status_error_is_survived(database, snowflake_secrets):
    database.script(["RUNNING", "SUCCESS"], flaky=2)
    assert run_sql(database, "SELECT 3 AS three").to_dict("records") == [{"three": 3}]


def test_a_failing_querys_message_is_surfaced(database, snowflake_secrets):
    task = query(database, "broken", "SELECT * FROM no_such_table", output_dataframe_type=DataFrame, retries=2)
    with pytest.raises(PermanentConnectorError, match="broken: .*NO_SUCH_TABLE.*does not exist"):
        flyte.run(task)
    (run,) = Run.listall(limit=1)
    assert run.actions()[0].attempts == 1  # a SQL error is not retried


def test_a_query_is_cancelled_on_timeout(database, snowflake_secrets):
    database.script(["RUNNING"])  # never finishes
    task = query(database, "slow", "SELECT 4 AS four", output_dataframe_type=DataFrame, timeout=2)
    with pytest.raises(MaxRuntimeExceededError):
        flyte.run(task)
    (run,) = Run.listall(limit=1)
    with st.reader() as conn:
        (job,) = st.connector_jobs(conn, run.name)
    assert job["state"] == "CANCELLED"
    assert json.loads(job["metadata"])["query_id"] in database.aborted()


def test_a_missing_secret_is_named(database):
    task = query(database, "needs_key", "SELECT 1")
    with pytest.raises(SecretNotFoundError, match="needs_key: secret 'snowflake' not found"):
        flyte.run(task)


def test_an_account_that_cannot_be_reached_is_named_not_a_driver_traceback(snowflake_secrets):
    # A port nothing listens on: the driver gives up after its login_timeout.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = SnowflakeConfig(
        account="myorg-myaccount",
        user="flyte_user",
        database="ANALYTICS",
        schema="PUBLIC",
        warehouse="COMPUTE_WH",
        connection_kwargs={"host": "127.0.0.1", "port": port, "protocol": "http", "login_timeout": 3},
    )
    task = Snowflake(
        name="unreachable",
        query_template="SELECT 1",
        plugin_config=unreachable,
        snowflake_private_key="snowflake",
        snowflake_private_key_passphrase="snowflake_passphrase",
    )
    with pytest.raises(PermanentConnectorError) as caught:
        flyte.run(task)
    message = str(caught.value)
    assert message.startswith("unreachable: cannot log in to Snowflake account 'myorg-myaccount' as user 'flyte_user'")
    assert "secret 'snowflake'" in message and "-----BEGIN" not in message
    assert caught.value.code == "SnowflakeLoginError"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no driver chain


def test_definitions_are_checked_when_made(database):
    fake = database
    with pytest.raises(ValueError, match=r"uses %\(day\)s, which is not an input"):
        query(fake, "q", "SELECT %(day)s")
    with pytest.raises(ValueError, match="input 'day' is not used by query_template"):
        query(fake, "q", "SELECT 1", inputs={"day": str})
    with pytest.raises(ValueError, match="lone '%'.*write '%%'"):
        query(fake, "q", "SELECT * FROM t WHERE a LIKE 'x%' AND b = %(b)s", inputs={"b": str})
    with pytest.raises(ValueError, match="batch=True: input 'a' is <class 'str'>"):
        query(fake, "q", "INSERT INTO t VALUES (%(a)s)", inputs={"a": str}, batch=True)
    with pytest.raises(ValueError, match="connection_kwargs: password is a credential"):
        SnowflakeConfig(
            account="a", user="u", database="d", schema="s", warehouse="w", connection_kwargs={"password": "x"}
        )
    with pytest.raises(ValueError, match="SnowflakeConfig.account: '' is not accepted"):
        SnowflakeConfig(account="", user="u", database="d", schema="s", warehouse="w")


def test_arguments_of_the_wrong_type_are_named_with_what_is_accepted():
    config = SnowflakeConfig(account="a", user="u", database="d", schema="s", warehouse="w")
    with pytest.raises(TypeError, match=r"Snowflake 'q': inputs: \['day'\] is not accepted \(a dict of input name"):
        Snowflake(name="q", query_template="SELECT %(day)s", plugin_config=config, inputs=["day"])
    with pytest.raises(TypeError, match=r"output_dataframe_type: 5 is not accepted \(a dataframe type such as"):
        Snowflake(name="q", query_template="SELECT 1", plugin_config=config, output_dataframe_type=5)
    with pytest.raises(TypeError, match=r"snowflake_private_key: 5 is not accepted \(the key of a flyte.Secret"):
        Snowflake(name="q", query_template="SELECT 1", plugin_config=config, snowflake_private_key=5)


SCRIPT = """
import json, os, sys
import flyte
from flyte.io import DataFrame
from flyteplugins.snowflake import Snowflake, SnowflakeConfig

slow = Snowflake(
    name="slow",
    query_template="SELECT 5 AS five",
    plugin_config=SnowflakeConfig(account="acct", user="u", database="ANALYTICS", schema="PUBLIC", warehouse="wh",
                                  connection_kwargs=json.loads(os.environ["SNOWFLAKE_KWARGS"])),
    output_dataframe_type=DataFrame,
    snowflake_private_key="snowflake",
    snowflake_private_key_passphrase="snowflake_passphrase",
)

if __name__ == "__main__":
    flyte.init()
    flyte.with_runcontext(name=sys.argv[1]).run(slow)
"""


def _start(tmp_path, fake, name: str) -> tuple[subprocess.Popen, str]:
    script = tmp_path / "slow.py"
    script.write_text(SCRIPT)
    fake.script(["RUNNING"])  # never finishes
    env = {**os.environ, "SNOWFLAKE_KWARGS": json.dumps(fake.connection_kwargs())}
    process = subprocess.Popen([sys.executable, str(script), name], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with st.reader() as conn:
            jobs = st.connector_jobs(conn, name)
        if jobs:
            return process, json.loads(jobs[0]["metadata"])["query_id"]
        assert process.poll() is None, "the run ended before its query was recorded"
        time.sleep(0.1)
    raise AssertionError("the query was never recorded")


def test_ctrl_c_cancels_the_query(database, snowflake_secrets, tmp_path):
    process, query_id = _start(tmp_path, database, "interrupted")
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    assert query_id in database.aborted()


def test_a_query_left_by_a_killed_process_is_cancelled_from_the_cli(database, snowflake_secrets, tmp_path):
    process, query_id = _start(tmp_path, database, "killed")
    process.kill()
    process.wait()
    assert query_id not in database.aborted()
    shown = CliRunner().invoke(build_cli(), ["runs", "show", "killed"])
    assert query_id in shown.output
    cancelled = CliRunner().invoke(build_cli(), ["runs", "cancel", "killed"])
    assert cancelled.exit_code == 0, cancelled.output
    assert database.aborted().count(query_id) == 1


def test_a_connector_tasks_timeout_reads_back_as_given(database):
    task = query(database, "timed", "SELECT 1", timeout=120)
    assert task.timeout == 120
    assert task.spec.timeout == flyte.Timeout(max_runtime=120)
    assert task.override(timeout=30).timeout == 30
    assert task.timeout == 120
