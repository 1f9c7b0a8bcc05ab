"""flyteplugins-bigquery on Google's client against bqemulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated

import pandas as pd
import pytest

import flyte
from flyte.errors import PermanentConnectorError
from flyte.extend import ConnectorContext
from flyte.io import DataFrame
from flyte.runtime import store as st
from flyteplugins.bigquery import BigQueryConfig, BigQueryTask
from flyteplugins.connectors.bigquery.task import BigQueryTask as OldPathTask


@pytest.fixture(autouse=True)
def local():
    flyte.init()


@pytest.fixture(scope="module")
def dataset(bigquery_emulator):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(project="flyte", credentials=AnonymousCredentials())
    client.create_dataset("crypto", exists_ok=True)
    client.query(
        "CREATE OR REPLACE TABLE crypto.transactions (hash STRING, size INT64, block_number INT64, version INT64)"
    ).result()
    client.query(
        "INSERT INTO crypto.transactions VALUES ('h1', 10, 100, 1), ('h2', 20, 200, 1), ('h3', 30, 300, 2)"
    ).result()
    client.close()
    return bigquery_emulator


def test_the_public_examples_query_shape_runs(dataset):
    no_io = BigQueryTask(
        name="sql.bigquery.no_io",
        inputs={},
        output_dataframe_type=DataFrame,
        query_template="SELECT 1",
        plugin_config=BigQueryConfig(ProjectID="flyte"),
    )
    flyte.TaskEnvironment.from_task("bigquery_task_no_io_env", no_io)
    DogeCoinDataset = Annotated[DataFrame, {"hash": str, "size": int, "block_number": int}]
    templatized = OldPathTask(
        name="sql.bigquery.w_io",
        inputs={"version": int},
        output_dataframe_type=DogeCoinDataset,
        plugin_config=BigQueryConfig(ProjectID="flyte"),
        query_template="SELECT hash, size, block_number FROM `flyte.crypto.transactions` WHERE version = @version LIMIT 10;",
    )
    group = flyte.TaskEnvironment.from_task("bigquery_task_templatized_query_env", templatized)
    bigquery_env = flyte.TaskEnvironment(name="bigquery_env", depends_on=[group])

    @bigquery_env.task
    async def convert_bq_table_to_pandas_dataframe(df: DogeCoinDataset) -> pd.DataFrame:
        return await df.open(pd.DataFrame).all()

    @bigquery_env.task
    async def full_bigquery_wf(version: int) -> pd.DataFrame:
        df = await templatized(version=version)
        return await convert_bq_table_to_pandas_dataframe(df=df)

    assert flyte.run(no_io).outputs()[0].open(pd.DataFrame).all_sync().iloc[0, 0] == 1
    run = flyte.run(full_bigquery_wf, version=1)
    frame = run.outputs()[0]
    assert sorted(frame["hash"]) == ["h1", "h2"] and set(frame.columns) == {"hash", "size", "block_number"}
    with st.reader() as conn:
        (job,) = st.connector_jobs(conn, run.name)
    assert job["state"] == "SUCCEEDED" and json.loads(job["metadata"])["job_id"]


def test_parameters_of_every_supported_type(dataset):
    task = BigQueryTask(
        name="typed",
        inputs={"s": str, "i": int, "f": float, "b": bool, "d": dt.date, "ts": dt.datetime, "ids": list[int]},
        output_dataframe_type=pd.DataFrame,
        plugin_config=BigQueryConfig(ProjectID="flyte"),
        query_template=(
            "SELECT @s AS s, @i AS i, @f AS f, @b AS b, @d AS d, @ts AS ts, "
            "(SELECT COUNT(*) FROM crypto.transactions WHERE block_number IN UNNEST(@ids)) AS matched"
        ),
    )
    values = dict(
        s="o'brien; DROP TABLE x",
        i=7,
        f=1.5,
        b=True,
        d=dt.date(2024, 2, 29),
        ts=dt.datetime(2024, 2, 29, 1, 2, 3, tzinfo=dt.UTC),
        ids=[100, 300],
    )
    (row,) = flyte.run(task, **values).outputs()[0].to_dict("records")
    assert row["s"] == values["s"] and row["i"] == 7 and row["f"] == 1.5 and row["b"] is True
    assert pd.Timestamp(row["d"]).date() == values["d"] and pd.Timestamp(row["ts"]) == pd.Timestamp(values["ts"])
    assert row["matched"] == 2


def test_query_job_config_is_honoured(dataset):
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(default_dataset="flyte.crypto", labels={"team": "data"})
    task = BigQueryTask(
        name="unqualified",
        inputs={},
        output_dataframe_type=pd.DataFrame,
        plugin_config=BigQueryConfig(ProjectID="flyte", QueryJobConfig=config),
        query_template="SELECT COUNT(*) AS n FROM transactions",  # found through default_dataset
    )
    assert flyte.run(task).outputs()[0]["n"].tolist() == [3]


def test_a_failing_querys_message_is_surfaced(dataset):
    task = BigQueryTask(
        name="broken",
        inputs={},
        output_dataframe_type=DataFrame,
        plugin_config=BigQueryConfig(ProjectID="flyte"),
        query_template="SELECT * FROM crypto.no_such_table",
        retries=2,
    )
    with pytest.raises(PermanentConnectorError, match="broken: .*no_such_table"):
        flyte.run(task)


def test_the_job_is_cancelled_through_the_client(dataset):
    from flyteplugins.bigquery import _connector

    task = BigQueryTask(
        name="cancel_me", inputs={}, plugin_config=BigQueryConfig(ProjectID="flyte"), query_template="SELECT 1"
    )
    context = ConnectorContext(spec=task.spec)
    metadata = asyncio.run(_connector.create(context, {}))
    asyncio.run(_connector.delete(context, metadata))  # the emulator's jobs end at once: a no-op cancel
    asyncio.run(_connector.delete(context, metadata))  # and again: idempotent
    assert asyncio.run(_connector.get(context, metadata)).phase in ("SUCCEEDED", "ABORTED")


def test_definitions_are_checked_when_made():
    config = BigQueryConfig(ProjectID="flyte")
    with pytest.raises(ValueError, match="uses @day, which is not an input"):
        BigQueryTask(name="q", inputs={}, plugin_config=config, query_template="SELECT @day")
    with pytest.raises(ValueError, match="input 'day' is not used"):
        BigQueryTask(name="q", inputs={"day": str}, plugin_config=config, query_template="SELECT 1")
    with pytest.raises(ValueError, match="input 'x': .*dict.* is not accepted"):
        BigQueryTask(name="q", inputs={"x": dict}, plugin_config=config, query_template="SELECT @x")
    with pytest.raises(ValueError, match="BigQueryConfig.ProjectID: '' is not accepted"):
        BigQueryConfig(ProjectID="")


def test_arguments_of_the_wrong_type_are_named_with_what_is_accepted():
    config = BigQueryConfig(ProjectID="flyte")
    with pytest.raises(TypeError, match=r"BigQueryTask 'q': inputs: \['day'\] is not accepted \(a dict of input name"):
        BigQueryTask(name="q", inputs=["day"], plugin_config=config, query_template="SELECT @day")
    with pytest.raises(TypeError, match=r"output_dataframe_type: 5 is not accepted \(a dataframe type such as"):
        BigQueryTask(name="q", plugin_config=config, query_template="SELECT 1", output_dataframe_type=5)
    with pytest.raises(
        TypeError, match=r"google_application_credentials: 5 is not accepted \(the key of a flyte.Secret"
    ):
        BigQueryTask(name="q", plugin_config=config, query_template="SELECT 1", google_application_credentials=5)
    with pytest.raises(TypeError, match=r"BigQueryConfig.Location: 5 is not accepted \(a location such as 'US'"):
        BigQueryConfig(ProjectID="flyte", Location=5)
    assert BigQueryConfig(ProjectID="flyte", Location="EU").Location == "EU"


def test_the_older_examples_flytekit_argument_names_work_on_their_import_path(dataset):
    config = BigQueryConfig(ProjectID="flyte")
    no_io = OldPathTask(name="sql.bigquery.no_io_v1", inputs={}, query_template="SELECT 1", task_config=config)
    Rows = Annotated[DataFrame, {"hash": str}]
    with_io = OldPathTask(
        name="sql.bigquery.w_io_v1",
        inputs={"version": int},
        output_structured_dataset_type=Rows,
        task_config=config,
        query_template="SELECT hash FROM `flyte.crypto.transactions` WHERE version = @version",
    )
    assert isinstance(with_io, BigQueryTask)
    queries = flyte.TaskEnvironment.from_task("bigquery_v1_names_env", no_io, with_io)
    env = flyte.TaskEnvironment(name="bigquery_v1_names_wf", depends_on=[queries])

    @env.task
    def hashes(version: int) -> list[str]:
        return sorted(with_io(version=version).open(pd.DataFrame).all_sync()["hash"])

    assert flyte.run(no_io).outputs()[0] is None  # no output type: the rows are not kept
    assert flyte.run(hashes, version=1).outputs()[0] == ["h1", "h2"]
    with pytest.raises(TypeError, match=r"'q': give plugin_config or task_config \(its flytekit name\), not both"):
        OldPathTask(name="q", query_template="SELECT 1", plugin_config=config, task_config=config)
    with pytest.raises(TypeError, match="give output_dataframe_type or output_structured_dataset_type"):
        OldPathTask(
            name="q",
            query_template="SELECT 1",
            plugin_config=config,
            output_dataframe_type=DataFrame,
            output_structured_dataset_type=DataFrame,
        )
    with pytest.raises(TypeError, match=r"'q': plugin_config is required \(a BigQueryConfig\)"):
        OldPathTask(name="q", query_template="SELECT 1")


def test_missing_google_credentials_are_named_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    task = BigQueryTask(name="no_creds", query_template="SELECT 1", plugin_config=BigQueryConfig(ProjectID="flyte"))
    with pytest.raises(PermanentConnectorError) as caught:
        flyte.run(task)
    message = str(caught.value)
    assert message.startswith("no_creds: no Google Cloud credentials for BigQuery project 'flyte'")
    assert "google_application_credentials=" in message and "gcloud auth application-default login" in message
    assert caught.value.code == "BigQueryCredentialsError" and caught.value.__cause__ is None


def test_a_secret_that_is_not_a_service_account_key_is_named_not_quoted(monkeypatch):
    from flyte.runtime import secret_store

    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    secret_store.create("bq_key", b'{"type": "service_account", "private_key": "TOP-SECRET"}')
    task = BigQueryTask(
        name="bad_key",
        query_template="SELECT 1",
        plugin_config=BigQueryConfig(ProjectID="flyte"),
        google_application_credentials="bq_key",
    )
    with pytest.raises(PermanentConnectorError) as caught:
        flyte.run(task)
    # What the run records is this message: it names the secret and never quotes it.
    assert str(caught.value).startswith("bad_key: the secret 'bq_key' is not a service account's JSON key")
    assert "TOP-SECRET" not in str(caught.value)
