"""An action's creation order is a column (``actions.number``) written with the action: a store
from before the column is migrated once (by one of several processes opening it at once) and
lists its actions in creation order through the index."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import sqlite3
from pathlib import Path

import pytest

import flyte
from flyte.remote import Run
from flyte.runtime import store as st
from store_plans import failed_page_plan

PROCESSES = 8
ROUNDS = 3
# Creation order differs from the ids' text order (a10 < a2) and from the order rows were written.
IDS = [st.action_id(n) for n in range(12)]
# The step that adds the number, by position (later steps may follow it).
STEP = st.MIGRATIONS.index(st._number_actions)


def old_store(path: Path) -> None:
    """A store as the version before the column wrote it: every earlier schema step, the index
    that sorted by the number parsed from the id, and a run whose actions were written in an
    order of their own."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN")
        for step in st.MIGRATIONS[:STEP]:
            step(conn)
        conn.execute(
            "CREATE INDEX IF NOT EXISTS actions_by_run_status ON actions (run, status, CAST(SUBSTR(id, 2) AS INTEGER))"
        )
        conn.execute(f"PRAGMA user_version = {STEP}")
        conn.execute(
            "INSERT INTO runs (name, task, status, created_at, ended_at, host, pid) "
            "VALUES ('r', 'old.main', 'SUCCEEDED', 1, 2, 'elsewhere', 1)"
        )
        shuffled = IDS[:]
        random.Random(7).shuffle(shuffled)
        conn.executemany(
            "INSERT INTO actions (run, id, task, status) VALUES ('r', ?, 'old.t', ?)",
            [(i, "FAILED" if i in ("a3", "a10") else "SUCCEEDED") for i in shuffled],
        )
        conn.execute("COMMIT")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(actions)")}
        assert "number" not in columns  # really the previous schema
    finally:
        conn.close()


def test_an_old_store_is_migrated_once_and_lists_its_actions_in_creation_order(flyte_home, monkeypatch):
    old_store(st.db_path())
    migrations = []
    real = st._migrate
    monkeypatch.setattr(st, "_migrate", lambda conn: (migrations.append(1), real(conn)))
    for _ in range(2):
        conn = st.connect()
        conn.close()
    assert migrations == [1]  # the second open finds it done
    assert [a.id for a in Run.get("r").iter_actions()] == IDS
    assert [a.id for a in Run.get("r").iter_actions(["FAILED"])] == ["a3", "a10"]
    with st.reader() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(st.MIGRATIONS)
        assert {r["id"]: r["number"] for r in conn.execute("SELECT id, number FROM actions")} == {
            i: n for n, i in enumerate(IDS)
        }
        indexes = {r[0]: r[1] for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index'")}
        assert "number" in indexes["actions_by_run_status"] and "SUBSTR" not in indexes["actions_by_run_status"]
        plan = failed_page_plan(conn, "r")
    assert "actions_by_run_status" in plan and "TEMP B-TREE" not in plan, plan


def _open_old(path: str, barrier, results) -> None:
    # This process's own copy of the steps: the number's step reports each time it runs.
    real = st.MIGRATIONS[STEP]

    def counted(conn: sqlite3.Connection) -> None:
        results.put("migrated")
        real(conn)

    st.MIGRATIONS = (*st.MIGRATIONS[:STEP], counted, *st.MIGRATIONS[STEP + 1 :])
    barrier.wait()
    try:
        conn = st.connect(Path(path))
        try:
            results.put([row["id"] for row in st.action_rows(conn, "r", None, -1, 0)])
        finally:
            conn.close()
    except Exception as exc:  # reported, not raised: the parent asserts on every outcome
        results.put(repr(exc))


def test_processes_opening_one_old_store_at_once_migrate_it_once(tmp_path):
    ctx = mp.get_context("fork")
    for round_ in range(ROUNDS):
        path = tmp_path / f"runs-{round_}.db"
        old_store(path)
        barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [ctx.Process(target=_open_old, args=(str(path), barrier, results)) for _ in range(PROCESSES)]
        for proc in procs:
            proc.start()
        outcomes = []
        while len([o for o in outcomes if o != "migrated"]) < PROCESSES:
            outcomes.append(results.get(timeout=120))
        for proc in procs:
            proc.join()
        results.close()
        results.join_thread()
        assert [proc.exitcode for proc in procs] == [0] * PROCESSES
        assert outcomes.count("migrated") == 1, outcomes
        assert [o for o in outcomes if o != "migrated"] == [IDS] * PROCESSES, outcomes


def test_the_creator_writes_the_number_with_the_action(tmp_path):
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    try:
        for n in (2, 0, 11, 1):
            store.create_action("r", st.action_id(n), task="t", status="QUEUED")
    finally:
        store.close()
    conn = st.connect(path)
    try:
        rows = conn.execute(f"SELECT id, number FROM actions ORDER BY {st.CREATION_ORDER}").fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in rows] == [("a0", 0), ("a1", 1), ("a2", 2), ("a11", 11)]


env = flyte.TaskEnvironment(name="numbers")


@flyte.trace
async def step(i: int) -> int:
    return i


@env.task
async def leaf(i: int) -> int:
    return await step(i)


@env.task
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(leaf(i) for i in range(n))))


def test_every_action_of_a_real_run_is_recorded_with_its_number():
    # Task calls and traced steps alike: however actions come to be recorded, none lacks its number.
    run = flyte.run(fan_out, n=12)
    run.wait()
    with st.reader() as conn:
        rows = conn.execute("SELECT id, number FROM actions WHERE run=?", (run.name,)).fetchall()
    assert len(rows) == 25  # the parent, 12 leaves, 12 traced steps
    assert all(r["number"] == st.action_number(r["id"]) for r in rows), [tuple(r) for r in rows]
    assert [a.id for a in Run.get(run.name).iter_actions()] == [st.action_id(n) for n in range(25)]


def test_recording_an_action_under_an_id_that_was_not_minted_is_refused(tmp_path):
    store = st.RunStore(tmp_path / "runs.db")
    try:
        with pytest.raises(ValueError, match=r"action: 'step-1' is not an action id"):
            store.create_action("r", "step-1", task="t", status="QUEUED")
        assert store._actions.count == 0 and not store._actions.new  # nothing half-recorded
    finally:
        store.close()


@pytest.mark.parametrize("ident", ["x1", "a", "a-1", "a1.5", "", "a١"])
def test_an_id_that_is_not_an_action_id_is_refused_by_name(ident):
    with pytest.raises(ValueError, match=r"action: .* is not an action id \(a0, a1, \.\.\."):
        st.action_number(ident)


def test_the_number_reads_back_every_minted_id():
    assert [st.action_number(st.action_id(n)) for n in (0, 1, 9, 10, 12345)] == [0, 1, 9, 10, 12345]
