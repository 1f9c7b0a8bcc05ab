"""The entry point (``flyte.plugins``: ``snowflake``). Light: ``_connector`` imports the driver
inside its functions, so listing plugins does not load it."""

from __future__ import annotations

from flyte.extend import Connector, PollPolicy, hookimpl
from flyteplugins.snowflake import _connector
from flyteplugins.snowflake.task import SnowflakeQuery


@hookimpl
def flyte_connectors() -> list[Connector]:
    return [
        Connector(
            config_type=SnowflakeQuery,
            create=_connector.create,
            get=_connector.get,
            delete=_connector.delete,
            # A warehouse query often runs for minutes: poll quickly at first, then every 10 s.
            poll=PollPolicy(first=0.2, factor=1.5, max_interval=10.0),
            description="Snowflake queries (snowflake-connector-python)",
        )
    ]
