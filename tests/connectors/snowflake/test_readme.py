"""The README's quickstart runs as written against the fake Snowflake."""

from __future__ import annotations

from pathlib import Path

from ..readme import run_quickstart

README = Path(__file__).resolve().parents[3] / "connectors" / "snowflake" / "README.md"


def test_the_quickstart_runs(database, snowflake_secrets, tmp_path):
    config = (
        "config = SnowflakeConfig(account='myorg-myaccount', user='flyte_user', database='ANALYTICS', "
        f"schema='PUBLIC', warehouse='COMPUTE_WH', connection_kwargs={database.connection_kwargs()!r})"
    )
    assert run_quickstart(README, config, tmp_path).strip() == "{'ada': 420.0}"
