"""The run store's writer: batches coalesce to fewer statements with the same end state."""

from __future__ import annotations

import sqlite3

from flyte.runtime import store as st


def test_a_batch_coalesces_per_action_and_ends_in_the_same_rows(tmp_path):
    batch = [
        ("INSERT INTO runs (name, task, status, created_at) VALUES (?, ?, ?, ?)", ("r", "t", "RUNNING", 1.0)),
        (st._CREATE, ("r", "a0"), {"task": "t", "status": "QUEUED", "queued_at": 1.0}),
        (st._UPDATE, ("r", "a0"), {"status": "RUNNING", "started_at": 2.0}),
        (st._CREATE, ("r", "a1"), {"task": "t", "status": "QUEUED", "queued_at": 1.5}),
        (st._UPDATE, ("r", "a0"), {"status": "SUCCEEDED", "ended_at": 3.0}),
        (st._UPDATE, ("r", "old"), {"status": "FAILED"}),
        (st._UPDATE, ("r", "old"), {"error": "boom"}),
    ]
    statements = st._coalesce(batch)
    assert len(statements) == 4  # the runs insert, a0's insert, a1's insert, old's update
    assert sum(len(rows) for _, rows in statements) == 4
    conn = st.connect(tmp_path / "runs.db")
    conn.execute("INSERT INTO actions (run, id, task, status) VALUES ('r', 'old', 't', 'RUNNING')")
    st.RunStore._commit(conn, batch)
    conn.row_factory = sqlite3.Row
    rows = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM actions")}
    assert (rows["a0"]["status"], rows["a0"]["queued_at"], rows["a0"]["started_at"], rows["a0"]["ended_at"]) == (
        "SUCCEEDED",
        1.0,
        2.0,
        3.0,
    )
    assert rows["a1"]["status"] == "QUEUED"
    assert (rows["old"]["status"], rows["old"]["error"]) == ("FAILED", "boom")
    assert conn.execute("SELECT status FROM runs WHERE name='r'").fetchone()[0] == "RUNNING"
