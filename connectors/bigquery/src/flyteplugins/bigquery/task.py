"""What users write: ``BigQueryConfig`` (where) and ``BigQueryTask(...)`` (a query as a task)."""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

import attrs

import flyte
from flyte.extend import ConnectorTask, declared_io

NAMED_PARAMETER = re.compile(r"@(\w+)")


def _project(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"BigQueryConfig.ProjectID: {value!r} is not accepted (a Google Cloud project id)")
    return value


def _location(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise TypeError(
            f"BigQueryConfig.Location: {value!r} is not accepted (a location such as 'US' or 'EU', or None)"
        )
    return value


def _job_config(value: Any) -> dict[str, Any] | None:
    """A ``google.cloud.bigquery.QueryJobConfig`` is kept as its API representation (plain
    data: recorded, hashed and shipped like any config) and rebuilt when the job starts."""
    if value is None or isinstance(value, dict):
        return value
    to_api = getattr(value, "to_api_repr", None)
    if to_api is None:
        raise TypeError(
            f"BigQueryConfig.QueryJobConfig: {value!r} is not accepted (a google.cloud.bigquery.QueryJobConfig)"
        )
    return to_api()


@attrs.frozen
class BigQueryConfig:
    """Where queries run: ``ProjectID``, ``Location`` (e.g. ``"US"``), and a ``QueryJobConfig``
    whose settings every job of the task uses (default dataset, labels, dry run, maximum bytes
    billed ...); the task's inputs are added to its query parameters."""

    ProjectID: str = attrs.field(converter=_project)
    Location: str | None = attrs.field(default=None, converter=_location)
    QueryJobConfig: dict[str, Any] | None = attrs.field(default=None, converter=_job_config, hash=False)


@attrs.frozen
class BigQueryQuery:
    """A BigQuery task's ``plugin_config``: the query and how to run it (what the connector owns)."""

    config: BigQueryConfig
    query_template: str
    input_types: tuple[tuple[str, str], ...] = ()  # name -> BigQuery type, e.g. ("day", "DATE")
    credentials_secret: str | None = None
    returns_rows: bool = True


def bigquery_type(name: str, kind: Any) -> str:
    """The BigQuery parameter type of an input type (``ARRAY<INT64>`` for ``list[int]``)."""
    import datetime as dt
    import decimal

    scalars = {
        bool: "BOOL",
        int: "INT64",
        float: "FLOAT64",
        str: "STRING",
        bytes: "BYTES",
        decimal.Decimal: "NUMERIC",
        dt.datetime: "TIMESTAMP",
        dt.date: "DATE",
        dt.time: "TIME",
    }
    if kind in scalars:
        return scalars[kind]
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind) or (None,)
        if item in scalars:
            return f"ARRAY<{scalars[item]}>"
    accepted = ", ".join(t.__name__ for t in scalars)
    raise ValueError(f"BigQueryTask: input {name!r}: {kind!r} is not accepted ({accepted}, or a list of one of them)")


class BigQueryTask(ConnectorTask):
    """A BigQuery query as a task.

    ``query_template``: the SQL, sent as written; inputs are named parameters (``@name``),
    bound by BigQuery with their types (scalars, dates and timestamps, arrays as
    ``list[int]``...). ``output_dataframe_type``: ``flyte.io.DataFrame`` (or pandas / Arrow) to
    get the rows, stored as Parquet in the run's storage; None when the result is not needed.
    ``google_application_credentials``: the key of a ``flyte.Secret`` holding a service
    account's JSON key; without it, the environment's default credentials are used.
    """

    def __init__(
        self,
        name: str,
        query_template: str,
        plugin_config: BigQueryConfig,
        inputs: Mapping[str, Any] | None = None,
        output_dataframe_type: Any = None,
        google_application_credentials: str | None = None,
        **settings: Any,
    ):
        if not isinstance(plugin_config, BigQueryConfig):
            raise TypeError(
                f"BigQueryTask {name!r}: plugin_config must be a BigQueryConfig, not {type(plugin_config).__name__}"
            )
        inputs = declared_io(f"BigQueryTask {name!r}", inputs, output_dataframe_type)
        if not isinstance(query_template, str) or not query_template.strip():
            raise ValueError(f"BigQueryTask {name!r}: query_template: {query_template!r} is not accepted (the SQL)")
        if google_application_credentials is not None and not isinstance(google_application_credentials, str):
            raise TypeError(
                f"BigQueryTask {name!r}: google_application_credentials: {google_application_credentials!r} is not "
                "accepted (the key of a flyte.Secret holding a service account's JSON key, a str)"
            )
        used = set(NAMED_PARAMETER.findall(query_template))
        missing = sorted(used - set(inputs))
        if missing:
            raise ValueError(
                f"BigQueryTask {name!r}: query_template uses @{missing[0]}, which is not an input "
                f"(inputs: {sorted(inputs) or 'none'})"
            )
        unused = sorted(set(inputs) - used)
        if unused:
            raise ValueError(f"BigQueryTask {name!r}: input {unused[0]!r} is not used by query_template (@{unused[0]})")
        query = BigQueryQuery(
            config=plugin_config,
            query_template=query_template,
            input_types=tuple((k, bigquery_type(k, v)) for k, v in inputs.items()),
            credentials_secret=google_application_credentials,
            returns_rows=output_dataframe_type is not None,
        )
        secrets = [flyte.Secret(key=google_application_credentials)] if google_application_credentials else None
        super().__init__(name, query, inputs=inputs, output_type=output_dataframe_type, secrets=secrets, **settings)
