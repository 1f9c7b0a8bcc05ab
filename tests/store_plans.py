"""How SQLite plans the run store's paged listing, for tests that it reads through the index."""

from __future__ import annotations

import sqlite3

from flyte.runtime import store as st


def failed_page_plan(conn: sqlite3.Connection, run: str) -> str:
    """The query plan of a page of ``run``'s FAILED actions in creation order (what
    ``flyte runs show --status FAILED`` reads), as one line."""
    return " ".join(
        row[3]
        for row in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM actions WHERE run=? AND status IN (?) "
            f"ORDER BY {st.CREATION_ORDER} LIMIT 50",
            (run, "FAILED"),
        )
    )
