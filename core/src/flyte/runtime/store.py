"""The run store: every run and action, in SQLite under ``<state root>/runs.db``.

Writes go through one background thread that commits in batches, so recording an action costs
a queue put, not a synchronous commit; :meth:`RunStore.flush` waits for everything queued.
Readers (``flyte runs``, :mod:`flyte.remote`) open their own connection and see committed
state. A run records its process id and that process's start time; a run still marked running
whose process is gone is reported as ``ABORTED``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flyte._home import private_file, state_root
from flyte._sqlite import use_wal
from flyte.errors import StateError

logger = logging.getLogger("flyte.runtime.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL,
    host TEXT,
    pid INTEGER,
    pid_start TEXT,
    inputs TEXT,
    outputs TEXT,
    error TEXT,
    report TEXT
);
CREATE TABLE IF NOT EXISTS actions (
    run TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    task TEXT NOT NULL,
    short_name TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cache TEXT,
    queued_at REAL,
    started_at REAL,
    ended_at REAL,
    error TEXT,
    inputs TEXT,
    outputs TEXT,
    report TEXT,
    grp TEXT,
    worker TEXT,
    PRIMARY KEY (run, id)
);
CREATE TABLE IF NOT EXISTS deployments (
    env TEXT NOT NULL,
    task TEXT NOT NULL,
    version TEXT NOT NULL,
    triggers TEXT,
    spec TEXT,
    backend TEXT NOT NULL,
    deployed_at REAL NOT NULL,
    PRIMARY KEY (task, version)
);
CREATE TABLE IF NOT EXISTS triggers (
    task TEXT NOT NULL,
    name TEXT NOT NULL,
    file TEXT,
    schedule TEXT,
    active INTEGER NOT NULL,
    activated_at REAL,
    last_fired REAL,
    deployed_at REAL NOT NULL,
    PRIMARY KEY (task, name)
);
-- Remote work started by connector tasks (one row per attempt): what `flyte runs show` names
-- and `flyte runs cancel` cancels. `task` is the task's spec as JSON (secret names, never values).
CREATE TABLE IF NOT EXISTS connector_jobs (
    run TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    connector TEXT NOT NULL,
    task TEXT NOT NULL,
    project TEXT,
    domain TEXT,
    metadata TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    log_links TEXT,
    created_at REAL NOT NULL,
    ended_at REAL,
    PRIMARY KEY (run, action, attempt)
);
CREATE INDEX IF NOT EXISTS actions_by_task ON actions (task);
-- `flyte runs show`: a run's actions of one phase in creation order (ids are a0, a1, ...).
CREATE INDEX IF NOT EXISTS actions_by_run_status ON actions (run, status, CAST(SUBSTR(id, 2) AS INTEGER));
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at);
"""

RUNNING = "RUNNING"
QUEUED = "QUEUED"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
ABORTED = "ABORTED"
RETRYING = "RETRYING"
TERMINAL = {SUCCEEDED, FAILED, ABORTED}

# Previews kept in the store; the full values stay with the caller.
PREVIEW_CHARS = 2000


def db_path() -> Path:
    return state_root() / "runs.db"


def connect(path: Path | None = None) -> sqlite3.Connection:
    path = private_file(path or db_path())
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if not is_corruption(exc):
            raise
        raise damaged(path, exc) from exc
    conn.row_factory = sqlite3.Row
    return conn


def damaged(path: Path, exc: sqlite3.DatabaseError) -> StateError:
    return StateError(
        f"the run store {path} is damaged ({exc}); move it aside to start a new one "
        f"(mv {path} {path}.damaged): runs recorded in it will no longer be listed"
    )


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is not a database or is malformed (not merely busy)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    return not isinstance(exc, sqlite3.OperationalError)  # Python 3.10: no error names


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a store written by an older version up to the current schema (columns only
    ever get added, so older readers keep working)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(actions)")}
    if "grp" not in columns:
        with contextlib.suppress(sqlite3.OperationalError):  # a concurrent opener added it first
            conn.execute("ALTER TABLE actions ADD COLUMN grp TEXT")
    if "worker" not in columns:
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("ALTER TABLE actions ADD COLUMN worker TEXT")


def process_start(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid); None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "?"
        return "?"


def preview(text: str | None) -> str | None:
    if text is None or len(text) <= PREVIEW_CHARS:
        return text
    return text[:PREVIEW_CHARS] + "…"


class RunStore:
    """The writer side of the store: a queue and one thread that commits in batches."""

    def __init__(self, path: Path | None = None):
        self.path = path or db_path()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, name="flyte-run-store", daemon=True)
        self._conn = connect(self.path)
        self._thread.start()
        self._closed = False

    # -- the write API (non-blocking) -------------------------------------------------------
    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        self._queue.put((sql, params))

    def create_run(self, name: str, task: str, inputs: str | None) -> None:
        pid = os.getpid()
        self.execute(
            "INSERT INTO runs (name, task, status, created_at, host, pid, pid_start, inputs) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, task, RUNNING, time.time(), socket.gethostname(), pid, process_start(pid), preview(inputs)),
        )

    def end_run(
        self, name: str, status: str, outputs: str | None = None, error: str | None = None, report: str | None = None
    ) -> None:
        self.execute(
            "UPDATE runs SET status=?, ended_at=?, outputs=?, error=?, report=COALESCE(?, report) WHERE name=?",
            (status, time.time(), preview(outputs), error, report, name),
        )

    def abort_unfinished(self, run: str, error: str) -> None:
        """Record every action of ``run`` that has not ended as ABORTED, with ``error``."""
        self.execute(
            "UPDATE actions SET status=?, ended_at=COALESCE(ended_at, ?), error=COALESCE(error, ?) "
            "WHERE run=? AND status NOT IN (?, ?, ?)",
            (ABORTED, time.time(), error, run, *TERMINAL),
        )

    def create_action(self, run: str, action: str, **fields: Any) -> None:
        self._queue.put((_CREATE, (run, action), fields))

    def update_action(self, run: str, action: str, **fields: Any) -> None:
        self._queue.put((_UPDATE, (run, action), fields))

    def flush(self, timeout: float = 30) -> None:
        """Wait until everything queued so far is committed."""
        if self._closed:
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._closed = True

    # -- the writer thread ------------------------------------------------------------------
    def _write_loop(self) -> None:
        conn = self._conn
        while True:
            item = self._queue.get()
            batch: list[Any] = []
            events: list[threading.Event] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    events.append(item)
                else:
                    batch.append(item)
                if len(batch) >= 5000:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._commit(conn, batch)
                except Exception as exc:  # keep recording later events; say what was lost
                    logger.error("flyte run store: %d records not written: %s", len(batch), exc)
            for event in events:
                event.set()
            if stop:
                conn.close()
                return

    @staticmethod
    def _commit(conn: sqlite3.Connection, batch: list[Any]) -> None:
        statements = _coalesce(batch)
        for attempt in range(20):
            try:
                conn.execute("BEGIN IMMEDIATE")
                for sql, rows in statements:
                    conn.executemany(sql, rows)
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                time.sleep(0.05 * (attempt + 1))  # another process holds the write lock
        raise RuntimeError(f"run store at {conn} stayed locked; records were not written")


_CREATE, _UPDATE = "create", "update"


def _coalesce(batch: list[Any]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The statements for one batch, fewest first: an action created and updated within the
    batch becomes one INSERT, several updates of one action one UPDATE; rows with the same
    columns share an ``executemany``. The result is what executing the batch in order gives,
    in one transaction (plain statements touch other tables and keep their order)."""
    plain: list[tuple[str, list[tuple[Any, ...]]]] = []
    actions: dict[tuple[str, str], list[Any]] = {}
    for item in batch:
        if len(item) == 2:  # (sql, params)
            plain.append((item[0], [item[1]]))
            continue
        kind, key, fields = item
        entry = actions.get(key)
        if entry is None or kind == _CREATE:
            actions[key] = [kind, dict(fields)]
        else:
            entry[1].update(fields)
    grouped: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
    for (run, action), (kind, fields) in actions.items():
        columns = tuple(fields)
        values = tuple(fields.values())
        rows = grouped.setdefault((kind, columns), [])
        rows.append((run, action, *values) if kind == _CREATE else (*values, run, action))
    statements = list(plain)
    for (kind, columns), rows in grouped.items():
        if kind == _CREATE:
            names = ", ".join(columns)
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT OR REPLACE INTO actions (run, id, {names}) VALUES (?, ?, {marks})"
        else:
            sql = f"UPDATE actions SET {', '.join(f'{c}=?' for c in columns)} WHERE run=? AND id=?"
        statements.append((sql, rows))
    return statements


# -- the read side --------------------------------------------------------------------------


@contextmanager
def reader(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection for reading; damage found while reading is reported like damage on open."""
    path = path or db_path()
    conn = connect(path)
    try:
        yield conn
    except sqlite3.DatabaseError as exc:
        if is_corruption(exc):
            raise damaged(path, exc) from exc
        raise
    finally:
        conn.close()


def effective_status(row: sqlite3.Row) -> str:
    """A run's status, ``ABORTED`` when it claims to run but its process is gone."""
    status = row["status"]
    if status in TERMINAL or row["host"] != socket.gethostname():
        return status
    start = process_start(row["pid"]) if row["pid"] else None
    if start is None or (row["pid_start"] not in (None, "?") and start not in ("?", row["pid_start"])):
        return ABORTED
    return status


def mark_aborted(conn: sqlite3.Connection, name: str) -> None:
    """Record that a run's process died; its unfinished actions are aborted with it."""
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "UPDATE runs SET status=?, ended_at=?, error=COALESCE(error, ?) WHERE name=? AND status NOT IN (?, ?, ?)",
        (ABORTED, now, "the process running this run exited before it finished", name, *TERMINAL),
    )
    conn.execute(
        "UPDATE actions SET status=?, ended_at=COALESCE(ended_at, ?) WHERE run=? AND status NOT IN (?, ?, ?)",
        (ABORTED, now, name, *TERMINAL),
    )
    conn.execute("COMMIT")


# Phases, most in need of attention first (`flyte runs show` lists them in this order).
SEVERITY = (FAILED, ABORTED, RETRYING, RUNNING, QUEUED, SUCCEEDED)
CREATION_ORDER = "CAST(SUBSTR(id, 2) AS INTEGER)"


def by_severity(phases: Any) -> list[str]:
    """``phases`` in :data:`SEVERITY` order (unknown ones last, by name)."""
    rank = {p: i for i, p in enumerate(SEVERITY)}
    return sorted(phases, key=lambda p: (rank.get(p, len(rank)), p))


def action_rows(
    conn: sqlite3.Connection, run: str, phases: list[str] | None, limit: int, offset: int
) -> sqlite3.Cursor:
    """A cursor over a run's actions in creation order (``phases``: only those; ``limit`` -1:
    all). Rows are fetched as iterated, never all at once."""
    where, params = "run=?", [run]
    if phases is not None:
        where += f" AND status IN ({', '.join('?' for _ in phases)})"
        params += phases
    sql = f"SELECT * FROM actions WHERE {where} ORDER BY {CREATION_ORDER} LIMIT ? OFFSET ?"
    return conn.execute(sql, (*params, limit, offset))


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- connector jobs (flyte.runtime.connectors) ------------------------------------------------


def record_worker(store: RunStore, run: str, action: str, worker: str) -> None:
    """Which worker process runs the action's attempt (``<environment>/<pid>`` for a reusable
    environment's pool); the last attempt's worker is what stays recorded."""
    store.update_action(run, action, worker=worker)


def record_connector_job(store: RunStore, run: str, action: str, attempt: int, **fields: Any) -> None:
    """Queue the record of remote work just created (``connector``, ``task``, ``project``,
    ``domain``, ``metadata``); the caller flushes the store."""
    store.execute(
        "INSERT OR REPLACE INTO connector_jobs (run, action, attempt, connector, task, project, domain, metadata, "
        "state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run,
            action,
            attempt,
            fields["connector"],
            fields["task"],
            fields["project"],
            fields["domain"],
            fields["metadata"],
            RUNNING,
            time.time(),
        ),
    )


_JOB_FIELDS = ("state", "message", "log_links", "ended_at")


def update_connector_job(store: RunStore, run: str, action: str, attempt: int, **fields: Any) -> None:
    """Queue a change of a job's ``state``, ``message``, ``log_links`` or ``ended_at``."""
    unknown = set(fields) - set(_JOB_FIELDS)
    if unknown:
        raise ValueError(f"connector_jobs has no column(s) {sorted(unknown)}")
    columns = ", ".join(f"{name}=?" for name in fields)
    store.execute(
        f"UPDATE connector_jobs SET {columns} WHERE run=? AND action=? AND attempt=?",
        (*fields.values(), run, action, attempt),
    )


def connector_jobs(conn: sqlite3.Connection, run: str) -> list[sqlite3.Row]:
    """A run's remote work, in creation order."""
    return conn.execute(
        "SELECT * FROM connector_jobs WHERE run=? ORDER BY created_at, action, attempt", (run,)
    ).fetchall()


def open_connector_jobs(run: str, states: tuple[str, ...]) -> list[sqlite3.Row]:
    """A run's remote work last recorded in one of ``states`` (still live, as far as we know)."""
    with reader() as conn:
        marks = ", ".join("?" for _ in states)
        return conn.execute(
            f"SELECT * FROM connector_jobs WHERE run=? AND state IN ({marks}) ORDER BY created_at", (run, *states)
        ).fetchall()


def end_connector_job(run: str, action: str, attempt: int, state: str, message: str) -> None:
    """Record, from outside the run's process, how its remote work ended."""
    with reader() as conn:
        conn.execute(
            "UPDATE connector_jobs SET state=?, message=?, ended_at=? WHERE run=? AND action=? AND attempt=?",
            (state, message, time.time(), run, action, attempt),
        )


def run_process(name: str) -> tuple[str | None, int | None]:
    """The host and process id that ran (or runs) a run."""
    with reader() as conn:
        row = conn.execute("SELECT host, pid FROM runs WHERE name=?", (name,)).fetchone()
    return (row["host"], row["pid"]) if row else (None, None)
