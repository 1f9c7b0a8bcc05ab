"""Per-attempt records: when each attempt of an action ran, how it ended, where, and why.

Its own tables and schema step (:func:`ensure_schema`, run by every connection the run store
opens), so a store written by an older version gains them on first open. A row is written
once, when the attempt ends (one queued statement: the hot path stays one queue put); a
running attempt is the action's own row (status RUNNING, ``attempts`` = its number).

Error text is recorded with secret values masked (:mod:`flyte.runtime.redact`); the traceback
shows the user's frames first, then the full chain as Python prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import sqlite3
import sysconfig
import traceback
import types
from pathlib import Path
from typing import Any

from flyte.runtime.redact import redact

SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    run TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL,
    ended_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    error_type TEXT,
    message TEXT,
    traceback TEXT,
    worker TEXT,
    log_path TEXT,
    PRIMARY KEY (run, action, attempt)
);
-- The UI's action tree: an action's children, grouped by task (flyte.ui.queries.action_tree).
CREATE INDEX IF NOT EXISTS actions_by_parent ON actions (run, parent);
"""

# Columns this module adds to the run store's own tables (ALTER TABLE ... ADD COLUMN).
COLUMNS = {
    "actions": {"cache_key": "TEXT"},
    "runs": {"last_seen": "REAL", "trigger": "TEXT"},
}

SUCCEEDED, FAILED, ABORTED = "SUCCEEDED", "FAILED", "ABORTED"


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create this module's table, index and columns in a store that lacks them (older stores).
    Statement by statement (not ``executescript``, which would commit a caller's transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    for table, columns in COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in present:
                with contextlib.suppress(sqlite3.OperationalError):  # a concurrent opener added it first
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def record(
    store: Any,
    run: str,
    action: str,
    attempt: int,
    *,
    started_at: float | None,
    ended_at: float,
    error: BaseException | None,
    worker: str,
    log_path: str | None,
    aborted: bool = False,
) -> None:
    """Queue the record of one finished attempt on ``store`` (a :class:`RunStore`)."""
    if error is None:
        outcome, kind, message, trace = SUCCEEDED, None, None, None
    else:
        outcome = ABORTED if aborted or isinstance(error, asyncio.CancelledError) else FAILED
        kind, message, trace = type(error).__name__, redact(str(error)), format_traceback(error)
    store.execute(
        "INSERT OR REPLACE INTO attempts (run, action, attempt, started_at, ended_at, outcome, error_type, "
        "message, traceback, worker, log_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run, action, attempt, started_at, ended_at, outcome, kind, message, trace, worker, log_path),
    )


@functools.cache
def _here(pid: int) -> str:
    return f"{socket.gethostname()} pid {pid}"


def worker_of(spec: Any, is_connector: bool, pooled_on: str | None = None) -> str:
    """Where an attempt ran: this host and process, and the engine or service when not in it,
    or the reusable environment's worker (``pooled_on``: ``<pool>/<pid>``)."""
    here = _here(os.getpid())
    if pooled_on is not None:
        return f"pool worker {pooled_on} ({socket.gethostname()})"
    if is_connector:
        return f"connector ({here})"
    if spec.plugin_config is not None:
        return f"{type(spec.plugin_config).__name__} plugin ({here})"
    return f"local process ({here})"


# Frames of these folders are the runtime's, not the user's: flyte itself and the standard
# library (asyncio, threading, concurrent.futures) it runs bodies on.
_FLYTE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep
_STDLIB_DIRS = tuple(
    str(Path(p).resolve()) + os.sep for p in {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")} if p
)


@functools.lru_cache(maxsize=1024)
def is_user_frame(filename: str) -> bool:
    """Whether a frame's file is user code (not flyte's runtime, not the standard library)."""
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return True
    return not path.startswith(_FLYTE_DIR) and not path.startswith(_STDLIB_DIRS)


# The innermost frames of an error's traceback kept in its record. An error raised at the
# bottom of a deep chain of task calls passes up through every level, its traceback growing
# with each; formatting all of it at every level made a failing 400-deep recursion take
# minutes (the work grew with the square of the depth).
MAX_FRAMES = 100


def format_traceback(error: BaseException) -> str:
    """The error's traceback with the user's frames first (runtime frames left out), then the
    full traceback, causes included, as Python prints it (its innermost :data:`MAX_FRAMES`
    frames); secret values masked."""
    tb, cut = _innermost(error.__traceback__, MAX_FRAMES)
    full = "".join(traceback.format_exception(type(error), error, tb))
    if cut:
        full = f"({cut:,} outer frames not shown)\n{full}"
    frames = [f for f in traceback.extract_tb(tb) if is_user_frame(f.filename)]
    head = "".join(traceback.format_exception_only(error))
    if frames:
        user = "Traceback of your code (most recent call last):\n" + "".join(traceback.format_list(frames)) + head
    else:
        user = f"(no frames of your code: raised by the runtime)\n{head}"
    return redact(f"{user}\nFull traceback:\n{full}")


def _innermost(tb: types.TracebackType | None, keep: int) -> tuple[types.TracebackType | None, int]:
    """The last ``keep`` entries of a traceback (a new chain: the error's own is left as it
    is), and how many were left out."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if len(entries) <= keep:
        return (entries[0] if entries else None), 0
    kept: types.TracebackType | None = None
    for entry in reversed(entries[-keep:]):
        kept = types.TracebackType(kept, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return kept, len(entries) - keep


def written_for(error: BaseException | None, attempt: int, in_process: bool) -> bool:
    """Whether an ended attempt gets a row of its own. A first attempt that succeeded in this
    process is the action itself (its row has the times and the outcome): most attempts are
    such, and skipping their row keeps the hot path to one record per action."""
    return error is not None or attempt > 1 or not in_process


def attempts_of(conn: sqlite3.Connection, run: str, action: str) -> list[dict[str, Any]]:
    """An action's finished attempts, first to last, as plain dicts (a first attempt that
    succeeded in the run's process is read from the action's and the run's rows)."""
    rows = [
        dict(row)
        for row in conn.execute("SELECT * FROM attempts WHERE run=? AND action=? ORDER BY attempt", (run, action))
    ]
    if rows:
        return rows
    row = conn.execute(
        "SELECT a.status, a.attempts, a.cache, a.started_at, a.ended_at, r.host, r.pid FROM actions a "
        "JOIN runs r ON r.name = a.run WHERE a.run=? AND a.id=?",
        (run, action),
    ).fetchone()
    if row is None or row["status"] != SUCCEEDED or row["attempts"] != 1 or row["cache"] == "hit":
        return []
    from flyte.runtime.logs import recorded_log

    path = recorded_log(run, action, 1)
    return [
        {
            "run": run,
            "action": action,
            "attempt": 1,
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "outcome": SUCCEEDED,
            "error_type": None,
            "message": None,
            "traceback": None,
            "worker": f"local process ({row['host']} pid {row['pid']})",
            "log_path": str(path) if path.exists() else None,
        }
    ]
