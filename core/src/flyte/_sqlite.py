"""What every SQLite store of ours does on open."""

from __future__ import annotations

import sqlite3
import time

# How long a store waits for another process's lock before giving up (its busy timeout too).
LOCK_TIMEOUT = 30.0


def use_wal(conn: sqlite3.Connection, timeout: float = LOCK_TIMEOUT) -> None:
    """Put the database in WAL mode (kept in the file). Switching needs the exclusive lock,
    and SQLite can answer "database is locked" without calling the busy handler while another
    process creates or switches the same new file, so retry within ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
