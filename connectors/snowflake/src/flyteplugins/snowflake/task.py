"""What users write: ``SnowflakeConfig`` (where) and ``Snowflake(...)`` (a query as a task)."""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

import attrs

import flyte
from flyte.extend import ConnectorTask, declared_io

# pyformat placeholders, the driver's paramstyle: %(name)s. "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")

# Settings that carry credentials: they belong in a flyte.Secret, never in the config, which is
# recorded (run store, rendered objects, cache keys).
CREDENTIAL_KWARGS = frozenset(
    {"password", "private_key", "private_key_file", "private_key_file_pwd", "token", "passcode", "oauth_client_secret"}
)


def _text(param: str) -> Any:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"SnowflakeConfig.{param}: {value!r} is not accepted (a non-empty string)")
        return value

    return convert


def _connection_kwargs(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"SnowflakeConfig.connection_kwargs: {value!r} is not accepted (a dict of driver settings)")
    secret = sorted(CREDENTIAL_KWARGS & {str(k).lower() for k in value})
    if secret:
        raise ValueError(
            f"SnowflakeConfig.connection_kwargs: {', '.join(secret)} is a credential; it would be recorded with "
            "the task. Store it as a flyte.Secret and pass its key (snowflake_private_key=...)"
        )
    return dict(value)


@attrs.frozen
class SnowflakeConfig:
    """Where queries run: the account, user, database, schema and warehouse, plus any other
    ``snowflake.connector.connect`` settings in ``connection_kwargs`` (a role, a host ...;
    credentials go in ``flyte.Secret``s, never here)."""

    account: str = attrs.field(converter=_text("account"))
    user: str = attrs.field(converter=_text("user"))
    database: str = attrs.field(converter=_text("database"))
    schema: str = attrs.field(converter=_text("schema"))
    warehouse: str = attrs.field(converter=_text("warehouse"))
    connection_kwargs: dict[str, Any] | None = attrs.field(default=None, converter=_connection_kwargs, hash=False)


@attrs.frozen
class SnowflakeQuery:
    """A Snowflake task's ``plugin_config``: the query and how to run it (what the connector
    owns). ``private_key``/``private_key_passphrase`` are secret keys, not values."""

    config: SnowflakeConfig
    query_template: str
    batch: bool = False
    private_key: str | None = None
    private_key_passphrase: str | None = None
    normalize_column_names: bool = True
    returns_rows: bool = True


def placeholders(query: str) -> list[str]:
    """The names of the query's ``%(name)s`` placeholders, in order."""
    return [m.group(1) for m in PLACEHOLDER.finditer(query) if m.group(1)]


def _check_query(name: str, query: Any, inputs: Mapping[str, Any], batch: bool) -> None:
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"Snowflake {name!r}: query_template: {query!r} is not accepted (the SQL to run)")
    used = placeholders(query)
    missing = sorted(set(used) - set(inputs))
    if missing:
        raise ValueError(
            f"Snowflake {name!r}: query_template uses %({missing[0]})s, which is not an input "
            f"(inputs: {sorted(inputs) or 'none'}); add it to inputs={{...}}"
        )
    unused = sorted(set(inputs) - set(used))
    if unused:
        raise ValueError(
            f"Snowflake {name!r}: input {unused[0]!r} is not used by query_template "
            f"(write %({unused[0]})s where its value goes)"
        )
    if inputs and any(m.group(0) == "%" for m in PLACEHOLDER.finditer(query)):
        raise ValueError(
            f"Snowflake {name!r}: query_template has a lone '%'; with inputs the driver reads % as a "
            "placeholder: write '%%' for a literal percent sign (e.g. LIKE 'a%%')"
        )
    if batch:
        if not inputs:
            raise ValueError(f"Snowflake {name!r}: batch=True needs list inputs (one list per column)")
        for key, kind in inputs.items():
            if typing.get_origin(kind) is not list and kind is not list:
                raise ValueError(
                    f"Snowflake {name!r}: batch=True: input {key!r} is {kind!r}; each input must be a "
                    "list (one value per row), e.g. list[str]"
                )
        if not re.match(r"\s*insert\b", query, re.IGNORECASE):
            raise ValueError(f"Snowflake {name!r}: batch=True applies to INSERT statements (one row per list item)")


class Snowflake(ConnectorTask):
    """A Snowflake query as a task.

    ``query_template``: the SQL, sent as written; inputs are ``%(name)s`` placeholders whose
    values the driver binds (never formatted into the text by flyte). ``inputs``: names and
    types. ``output_dataframe_type``: ``flyte.io.DataFrame`` (or ``pandas.DataFrame``,
    ``pyarrow.Table``) to get the query's rows, stored as Parquet in the run's storage; None
    for statements whose result is not needed. ``snowflake_private_key`` /
    ``snowflake_private_key_passphrase``: keys of the ``flyte.Secret``s holding the PEM
    private key and its passphrase (key-pair authentication), within ``secret_group``.
    ``batch=True``: every input is a list, and an ``INSERT ... VALUES (%(a)s, ...)`` inserts
    one row per position, in one statement. ``normalize_column_names`` (default True):
    upper-case column names, which is how Snowflake returns unquoted identifiers, come back
    lower-case (``event_count``); other names are kept as they are.
    """

    def __init__(
        self,
        name: str,
        query_template: str,
        plugin_config: SnowflakeConfig,
        inputs: Mapping[str, Any] | None = None,
        output_dataframe_type: Any = None,
        secret_group: str | None = None,
        snowflake_private_key: str | None = None,
        snowflake_private_key_passphrase: str | None = None,
        batch: bool = False,
        normalize_column_names: bool = True,
        **settings: Any,
    ):
        if not isinstance(plugin_config, SnowflakeConfig):
            raise TypeError(
                f"Snowflake {name!r}: plugin_config must be a SnowflakeConfig, not {type(plugin_config).__name__}"
            )
        inputs = declared_io(f"Snowflake {name!r}", inputs, output_dataframe_type)
        _check_query(name, query_template, inputs, batch)
        for param, key in (
            ("secret_group", secret_group),
            ("snowflake_private_key", snowflake_private_key),
            ("snowflake_private_key_passphrase", snowflake_private_key_passphrase),
        ):
            if key is not None and not isinstance(key, str):
                raise TypeError(
                    f"Snowflake {name!r}: {param}: {key!r} is not accepted (the key of a flyte.Secret, a str)"
                )
        if snowflake_private_key_passphrase and not snowflake_private_key:
            raise ValueError(f"Snowflake {name!r}: snowflake_private_key_passphrase needs snowflake_private_key")
        secrets = [
            flyte.Secret(key=key, group=secret_group)
            for key in (snowflake_private_key, snowflake_private_key_passphrase)
            if key
        ]
        query = SnowflakeQuery(
            config=plugin_config,
            query_template=query_template,
            batch=batch,
            private_key=snowflake_private_key,
            private_key_passphrase=snowflake_private_key_passphrase,
            normalize_column_names=normalize_column_names,
            returns_rows=output_dataframe_type is not None,
        )
        super().__init__(name, query, inputs=inputs, output_type=output_dataframe_type, secrets=secrets, **settings)
