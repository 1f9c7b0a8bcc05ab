"""The entry point (``flyte.plugins``: ``bigquery``). Light: ``_connector`` imports Google's
client inside its functions."""

from __future__ import annotations

from flyte.extend import Connector, PollPolicy, hookimpl
from flyteplugins.bigquery import _connector
from flyteplugins.bigquery.task import BigQueryQuery


@hookimpl
def flyte_connectors() -> list[Connector]:
    return [
        Connector(
            config_type=BigQueryQuery,
            create=_connector.create,
            get=_connector.get,
            delete=_connector.delete,
            poll=PollPolicy(first=0.2, factor=1.5, max_interval=10.0),
            description="BigQuery queries (google-cloud-bigquery)",
        )
    ]
