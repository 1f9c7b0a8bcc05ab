"""create / get / delete on the real Snowflake driver (``snowflake-connector-python``).

The driver blocks, so every call runs on a worker thread. One connection serves one query,
from ``create`` until the query ends (a status poll does not log in again); it is keyed by
the query id, never by credentials, and closed when the query succeeds or is deleted. A
process that did not create the query (``flyte runs cancel``) logs in afresh.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Mapping
from typing import Any

from flyte.extend import (
    ConnectorContext,
    ConnectorStatus,
    ConnectorTransientError,
    LogLink,
    PermanentConnectorError,
    io,
)
from flyteplugins.snowflake.task import SnowflakeQuery

QUERY_ID = re.compile(r"^[0-9a-zA-Z-]{1,64}$")

_connections: dict[str, Any] = {}  # query id -> the connection that created it
_lock = threading.Lock()


def _private_key(context: ConnectorContext, job: SnowflakeQuery) -> bytes | None:
    if not job.private_key:
        return None
    from cryptography.hazmat.primitives import serialization

    pem = context.secrets[job.private_key].encode()
    passphrase = context.secrets[job.private_key_passphrase].encode() if job.private_key_passphrase else None
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError) as exc:
        # The message never quotes the key: it names the secret.
        raise PermanentConnectorError(
            f"{context.spec.name}: the secret {job.private_key!r} is not a PEM private key this passphrase opens "
            f"({type(exc).__name__})"
        ) from None
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def _connect(context: ConnectorContext) -> Any:
    import snowflake.connector

    job: SnowflakeQuery = context.config
    config = job.config
    kwargs: dict[str, Any] = dict(config.connection_kwargs or {})
    key = _private_key(context, job)
    if key is not None:
        kwargs["private_key"] = key
    return snowflake.connector.connect(
        account=config.account,
        user=config.user,
        database=config.database,
        schema=config.schema,
        warehouse=config.warehouse,
        **kwargs,
    )


def _login(context: ConnectorContext) -> Any:
    """:func:`_connect` for a new query: a login that fails (an account that cannot be reached,
    credentials refused) is the task's error in the user's terms, not the driver's traceback.
    The driver has already retried it for its ``login_timeout``."""
    from snowflake.connector.errors import Error

    try:
        return _connect(context)
    except Error as exc:
        job: SnowflakeQuery = context.config
        key = f", the key in secret {job.private_key!r}" if job.private_key else ""
        raise PermanentConnectorError(
            f"{context.spec.name}: cannot log in to Snowflake account {job.config.account!r} as user "
            f"{job.config.user!r}: {exc.msg or exc} (check SnowflakeConfig's account and user{key}, "
            "and that this machine reaches the account)",
            code="SnowflakeLoginError",
        ) from None


def _rows(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """batch=True: one dict of parameters per row, from one list per input."""
    lengths = {name: len(values) for name, values in inputs.items()}
    if len(set(lengths.values())) > 1:
        raise PermanentConnectorError(f"batch=True: the input lists differ in length ({lengths}); one value per row")
    names = list(inputs)
    return [dict(zip(names, values, strict=True)) for values in zip(*inputs.values(), strict=True)]


def _create(context: ConnectorContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
    from snowflake.connector.errors import ProgrammingError

    job: SnowflakeQuery = context.config
    conn = _login(context)
    try:
        cursor = conn.cursor()
        try:
            if job.batch:
                # The driver binds every row and sends one multi-row INSERT (it has no async
                # executemany): the statement has finished when this returns.
                cursor.executemany(job.query_template, _rows(inputs))
            else:
                # The text as written; the driver binds the values (escaped, never by flyte).
                cursor.execute_async(job.query_template, dict(inputs) if inputs else None)
        except ProgrammingError as exc:  # the server rejected the statement (syntax, a missing table)
            raise PermanentConnectorError(f"{context.spec.name}: {exc.msg or exc}", code="SnowflakeError") from None
        query_id = cursor.sfqid
    except BaseException:
        conn.close()
        raise
    with _lock:
        _connections[query_id] = conn
    return {"query_id": query_id, "account": job.config.account}


def _connection_for(context: ConnectorContext, query_id: str) -> tuple[Any, bool]:
    """The query's connection, and whether it is ours to close now (a fresh one is)."""
    with _lock:
        conn = _connections.get(query_id)
    return (conn, False) if conn is not None else (_connect(context), True)


def _close(query_id: str) -> None:
    with _lock:
        conn = _connections.pop(query_id, None)
    if conn is not None:
        conn.close()


def _query_id(metadata: Mapping[str, Any]) -> str:
    query_id = metadata.get("query_id")
    if not isinstance(query_id, str) or not QUERY_ID.match(query_id):
        raise ValueError(f"not a Snowflake query id: {query_id!r}")
    return query_id


def _phase(conn: Any, status: Any) -> tuple[str, bool]:
    """(phase, retryable) for a driver ``QueryStatus``, by the driver's own helpers."""
    from snowflake.connector.constants import QueryStatus

    if status == QueryStatus.SUCCESS:
        return "SUCCEEDED", False
    if conn.is_still_running(status):  # QUEUED, RESUMING_WAREHOUSE, BLOCKED, NO_DATA, ...
        return ("RUNNING", False) if status == QueryStatus.RUNNING else ("QUEUED", False)
    if conn.is_an_error(status):
        if status in (QueryStatus.ABORTED, QueryStatus.ABORTING):
            return "ABORTED", False
        # An incident or a lost connection on Snowflake's side may pass on another attempt.
        return "FAILED", status in (QueryStatus.FAILED_WITH_INCIDENT, QueryStatus.DISCONNECTED)
    return status.name, False  # e.g. RESTARTED: the runtime treats it as running


def _get(context: ConnectorContext, metadata: Mapping[str, Any]) -> ConnectorStatus:
    query_id = _query_id(metadata)
    job: SnowflakeQuery = context.config
    conn, fresh = _connection_for(context, query_id)
    try:
        status = conn.get_query_status(query_id)
        phase, retryable = _phase(conn, status)
        page = f"https://app.snowflake.com/{job.config.account}/#/compute/history/queries/{query_id}/detail"
        links = [LogLink("Snowflake query", page)]
        if phase == "FAILED":
            message = _error_message(conn, query_id)
            return ConnectorStatus(phase, message, retryable=retryable, log_links=links)
        if phase != "SUCCEEDED":
            return ConnectorStatus(phase, status.name, log_links=links)
        outputs = _results(conn, query_id, job) if job.returns_rows else None
    finally:
        if fresh:
            conn.close()
    _close(query_id)
    return ConnectorStatus("SUCCEEDED", "SUCCESS", log_links=links, outputs=outputs)


def _error_message(conn: Any, query_id: str) -> str:
    from snowflake.connector.errors import Error

    try:
        conn.get_query_status_throw_if_error(query_id)
    except Error as exc:
        return exc.msg or str(exc)
    return "the query failed"


def _results(conn: Any, query_id: str, job: SnowflakeQuery) -> Any:
    """The query's rows as Arrow, kept by flyte as Parquet in the run's storage (Snowflake's
    own result cache expires)."""
    import pyarrow as pa

    cursor = conn.cursor()
    cursor.get_results_from_sfqid(query_id)
    table = cursor.fetch_arrow_all(force_return_table=True)
    if table is None:
        table = pa.table({})
    if job.normalize_column_names:
        table = table.rename_columns(_normalised(table.column_names))
    return io.DataFrame.wrap_df(table)


def _normalised(names: list[str]) -> list[str]:
    new = [n.lower() if n == n.upper() else n for n in names]
    clashes = sorted({n for n in new if new.count(n) > 1})
    if clashes:
        raise PermanentConnectorError(
            f"the result has columns that differ only in case ({clashes[0]!r}); "
            "pass normalize_column_names=False to keep Snowflake's names"
        )
    return new


def _delete(context: ConnectorContext, metadata: Mapping[str, Any]) -> None:
    query_id = _query_id(metadata)
    conn, fresh = _connection_for(context, query_id)
    try:
        conn.cursor().abort_query(query_id)  # a finished query stays as it was
    finally:
        if fresh:
            conn.close()
    _close(query_id)


async def create(context: ConnectorContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return await asyncio.to_thread(_create, context, inputs)


async def get(context: ConnectorContext, metadata: Mapping[str, Any]) -> ConnectorStatus:
    from snowflake.connector.errors import OperationalError

    try:
        return await asyncio.to_thread(_get, context, metadata)
    except OperationalError as exc:  # the service could not be reached or answered 5xx: ask again
        raise ConnectorTransientError(f"Snowflake status of {metadata.get('query_id')}: {exc.msg or exc}") from None


async def delete(context: ConnectorContext, metadata: Mapping[str, Any]) -> None:
    await asyncio.to_thread(_delete, context, metadata)
