"""Per-attempt records: when each attempt of an action ran, how it ended, where, and why.

Its table lives in the run store (:mod:`flyte.runtime.store`, with every statement on it). A
row is written once, when the attempt ends (one queued statement: the hot path stays one queue
put); a running attempt is the action's own row (status RUNNING, ``attempts`` = its number).

Error text is recorded with secret values masked (:mod:`flyte.runtime.redact`); the traceback
shows the user's frames first, then the full chain as Python prints it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import sqlite3
import sysconfig
import traceback
import types
from pathlib import Path
from typing import Any

from flyte.runtime import store as st
from flyte.runtime.redact import redact


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
    """Queue the record of one finished attempt on ``store`` (a :class:`flyte.runtime.store.RunStore`)."""
    if error is None:
        outcome, kind, message, trace = st.SUCCEEDED, None, None, None
    else:
        outcome = st.ABORTED if aborted or isinstance(error, asyncio.CancelledError) else st.FAILED
        kind, message, trace = type(error).__name__, redact(str(error)), format_traceback(error)
    st.record_attempt(
        store,
        run,
        action,
        attempt,
        started_at=started_at,
        ended_at=ended_at,
        outcome=outcome,
        error_type=kind,
        message=message,
        traceback=trace,
        worker=worker,
        log_path=log_path,
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
    rows = [dict(row) for row in st.attempt_rows(conn, run, action)]
    if rows:
        return rows
    row = st.action_with_process(conn, run, action)
    if row is None or row["status"] != st.SUCCEEDED or row["attempts"] != 1 or row["cache"] == "hit":
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
            "outcome": st.SUCCEEDED,
            "error_type": None,
            "message": None,
            "traceback": None,
            "worker": f"local process ({row['host']} pid {row['pid']})",
            "log_path": str(path) if path.exists() else None,
        }
    ]
