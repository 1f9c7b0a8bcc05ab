"""``flyteplugins.connectors.snowflake``: the import path of the public examples."""

from flyteplugins.snowflake.task import Snowflake, SnowflakeConfig, SnowflakeQuery

__all__ = ["Snowflake", "SnowflakeConfig", "SnowflakeQuery"]
