"""Snowflake queries as flyte tasks: ``Snowflake(name, query_template, plugin_config=SnowflakeConfig(...))``."""

from flyteplugins.snowflake.task import Snowflake, SnowflakeConfig, SnowflakeQuery

__all__ = ["Snowflake", "SnowflakeConfig", "SnowflakeQuery"]
