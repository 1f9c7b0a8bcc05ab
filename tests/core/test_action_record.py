"""An action's record as the run store writes it: NULL columns are never bound (a None costs
Python's sqlite3 a failed adaptation) yet a change to None still clears a column, and a child
that starts at once is created RUNNING, while one that waits for a slot is seen QUEUED first."""

from __future__ import annotations

import asyncio

import flyte
from flyte._context import current_caller
from flyte.runtime import controller
from flyte.runtime import store as st


def row(path, action: str) -> dict:
    conn = st.connect(path)
    try:
        return dict(st.action_row(conn, "r", action))
    finally:
        conn.close()


def test_no_none_is_bound_and_a_change_to_none_clears_the_column(tmp_path):
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    statements: list[str] = []
    store.read(lambda conn: conn.set_trace_callback(statements.append))  # the SQL with its bound values
    store.create_run("r", "t", None)
    # a0: created and changed before a write (one INSERT): a value set, then cleared.
    store.create_action("r", "a0", task="t", status=st.RUNNING, grp=None, error=None)
    store.update_action("r", "a0", status=st.RETRYING, attempts=1, error="boom", report="x.html")
    store.update_action("r", "a0", status=st.SUCCEEDED, attempts=2, error=None, report=None, outputs="1")
    # a1: written first, then changed (an UPDATE): cleared after the write.
    store.create_action("r", "a1", task="t", status=st.RETRYING, error="boom")
    store.flush()
    store.update_action("r", "a1", status=st.SUCCEEDED, error=None, outputs="2")
    store.flush()
    store.close()

    written = [s for s in statements if "actions" in s and not s.startswith(("BEGIN", "COMMIT"))]
    assert len(written) == 3, written
    inserts = [s for s in written if s.startswith("INSERT")]
    assert len(inserts) == 2 and not any("NULL" in s for s in inserts), inserts
    (a0_insert,) = [s for s in inserts if "'a0'" in s]
    assert not any(column in a0_insert for column in ("error", "report", "grp")), a0_insert  # left out
    (update,) = [s for s in written if s.startswith("UPDATE")]
    assert "error=NULL" in update and "error=?" not in update, update  # a literal, not a bound None

    a0, a1 = row(path, "a0"), row(path, "a1")
    assert (a0["status"], a0["attempts"], a0["error"], a0["report"], a0["grp"], a0["outputs"]) == (
        st.SUCCEEDED,
        2,
        None,
        None,
        None,
        "1",
    )
    assert (a1["status"], a1["error"], a1["outputs"]) == (st.SUCCEEDED, None, "2")
    assert row(path, "a1")["attempts"] == 0  # a column left out of the INSERT keeps its default


env = flyte.TaskEnvironment(name="record")
# The event the children wait for, made by the parent on the run's loop (inputs are recorded,
# so it is not passed as one).
release: dict[str, asyncio.Event] = {}


@env.task
async def waits() -> int:
    await release["children"].wait()
    return 1


@env.task
async def looks_at_its_children(count: int) -> dict:
    """Starts ``count`` children that wait, and reads their records from the store once the
    first runs and the others are queued; then lets them finish."""
    me = current_caller()
    seen: list[tuple[str, str]] = []

    def listener(run: str, action: str, task: str, status: str, attempt: int, detail: str | None) -> None:
        if action != me.id:
            seen.append((action, status))

    controller.listeners.append(listener)
    try:
        release["children"] = asyncio.Event()
        children = [asyncio.ensure_future(waits()) for _ in range(count)]
        for _ in range(10_000):  # loop turns, not time: every child QUEUED, the first RUNNING
            if len(seen) >= count + 1:
                break
            await asyncio.sleep(0)
        assert len(seen) == count + 1, seen
        store = me.controller.store
        store.flush()
        ids = list(dict.fromkeys(action for action, _ in seen))
        live = store.read(lambda conn: [dict(st.action_row(conn, me.controller.run_name, i)) for i in ids])
        release["children"].set()
        await asyncio.gather(*children)
        return {"live": live, "events": seen}
    finally:
        controller.listeners.remove(listener)
        release.clear()


def test_a_child_that_starts_at_once_is_recorded_running_from_its_creation():
    flyte.init()
    run = flyte.run(looks_at_its_children, 1)
    out = run.outputs()[0]
    (live,) = out["live"]
    assert (live["status"], live["attempts"], live["cache"]) == (st.RUNNING, 1, "disabled")
    assert live["started_at"] == live["queued_at"] and live["ended_at"] is None
    # Listeners still hear every phase, in order.
    assert [status for _, status in out["events"]] == [st.QUEUED, st.RUNNING, st.SUCCEEDED]
    with st.reader() as conn:
        done = dict(st.action_row(conn, run.name, live["id"]))
    assert (done["status"], done["attempts"], done["error"]) == (st.SUCCEEDED, 1, None)
    assert done["started_at"] == live["started_at"] <= done["ended_at"]


def test_a_child_that_waits_for_a_slot_is_recorded_queued_until_it_starts():
    flyte.init(max_concurrency=1)
    run = flyte.run(looks_at_its_children, 2)
    first, second = run.outputs()[0]["live"]
    assert (first["status"], first["attempts"]) == (st.RUNNING, 1)
    assert (second["status"], second["attempts"], second["started_at"]) == (st.QUEUED, 0, None)
    with st.reader() as conn:
        done = dict(st.action_row(conn, run.name, second["id"]))
    assert (done["status"], done["attempts"]) == (st.SUCCEEDED, 1)
    assert done["queued_at"] <= done["started_at"] <= done["ended_at"]


@env.task
async def double(i: int) -> int:
    return 2 * i


@env.task
async def traces_its_childrens_writes() -> list[str]:
    """Three plain children (one in a group); the SQL their rows were written with."""
    me = current_caller()
    store = me.controller.store
    store.flush()
    statements: list[str] = []
    store.read(lambda conn: conn.set_trace_callback(statements.append))
    try:
        await asyncio.gather(double(1), double(2))
        with flyte.group("g"):
            await double(3)
        store.flush()
    finally:
        store.read(lambda conn: conn.set_trace_callback(None))
    return statements


def test_a_plain_childs_row_is_written_without_a_null_and_reads_as_before():
    flyte.init()
    run = flyte.run(traces_its_childrens_writes)
    inserts = [s for s in run.outputs()[0] if s.startswith("INSERT OR REPLACE INTO actions")]
    # Three rows: the two of the gather in one two-row statement, the grouped one in another.
    assert sum(s.count("), (") + 1 for s in inserts) == 3 and not any("NULL" in s for s in inserts), inserts
    with st.reader() as conn:
        children = [
            dict(r) for r in conn.execute("SELECT * FROM actions WHERE run=? AND parent IS NOT NULL", (run.name,))
        ]
    assert sorted(c["outputs"] for c in children) == ["2", "4", "6"]
    for c in children:
        assert (c["status"], c["attempts"], c["cache"], c["error"], c["report"], c["cache_key"]) == (
            st.SUCCEEDED,
            1,
            "disabled",
            None,
            None,
            None,
        )
        assert c["queued_at"] == c["started_at"] <= c["ended_at"] and c["number"] == st.action_number(c["id"])
    assert sorted(c["grp"] or "" for c in children) == ["", "", "g"]
