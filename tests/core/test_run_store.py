"""The run store's writer and schema: one record per action until written, the same rows as
writing every change in order, and older stores brought up to date."""

from __future__ import annotations

import gc
import re
import sqlite3
import threading

import pytest

from flyte.runtime import store as st


@pytest.fixture
def committed_by(monkeypatch) -> list[threading.Thread]:
    """The thread of each commit the run store makes, in order."""
    threads: list[threading.Thread] = []
    commit = st.RunStore._commit

    def recording(conn, actions, statements):
        threads.append(threading.current_thread())
        commit(conn, actions, statements)

    monkeypatch.setattr(st.RunStore, "_commit", staticmethod(recording))
    return threads


def rows_of(path) -> dict[str, dict]:
    conn = st.connect(path)
    try:
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM actions")}
    finally:
        conn.close()


def test_changes_to_an_action_before_a_write_become_one_row_with_every_change(tmp_path):
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    store.create_run("r", "t", None)
    store.create_action("r", "a0", task="t", status="QUEUED", queued_at=1.0)
    store.update_action("r", "a0", status="RUNNING", started_at=2.0)
    store.create_action("r", "a1", task="t", status="QUEUED", queued_at=1.5)
    store.update_action("r", "a0", status="SUCCEEDED", ended_at=3.0)
    assert store._actions.count == 2  # one mutable record per action, not one per change
    store.flush()
    rows = rows_of(path)
    assert (rows["a0"]["status"], rows["a0"]["queued_at"], rows["a0"]["started_at"], rows["a0"]["ended_at"]) == (
        "SUCCEEDED",
        1.0,
        2.0,
        3.0,
    )
    assert rows["a1"]["status"] == "QUEUED"
    # Changes after a write update the row in place; a run's end sees its actions.
    store.update_action("r", "a1", status="FAILED")
    store.update_action("r", "a1", error="boom")
    store.abort_unfinished("r", "stopped")
    store.end_run("r", st.FAILED, error="boom")
    store.close()
    rows = rows_of(path)
    assert (rows["a1"]["status"], rows["a1"]["error"]) == ("FAILED", "boom")
    with st.reader(path) as conn:
        assert conn.execute("SELECT status FROM runs WHERE name='r'").fetchone()[0] == st.FAILED


def test_the_writer_commits_on_its_own_without_a_flush(tmp_path):
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    try:
        store.create_action("r", "a0", task="t", status="QUEUED")
        reader = st.connect(path)
        try:
            # Nobody flushes: the writer's own schedule commits it (waited for, not timed).
            for _ in range(600):
                if reader.execute("SELECT 1 FROM actions WHERE id='a0'").fetchone():
                    break
                threading.Event().wait(0.05)
            assert reader.execute("SELECT status FROM actions WHERE id='a0'").fetchone()[0] == "QUEUED"
        finally:
            reader.close()
    finally:
        store.close()


def test_a_store_written_before_schema_versions_is_migrated_once(tmp_path):
    path = tmp_path / "runs.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE actions (run TEXT NOT NULL, id TEXT NOT NULL, parent TEXT, task TEXT NOT NULL, "
        "short_name TEXT, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, cache TEXT, "
        "queued_at REAL, started_at REAL, ended_at REAL, error TEXT, inputs TEXT, outputs TEXT, "
        "report TEXT, PRIMARY KEY (run, id))"
    )
    old.execute("INSERT INTO actions (run, id, task, status) VALUES ('r', 'a0', 't', 'SUCCEEDED')")
    old.commit()
    old.close()
    conn = st.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(st.MIGRATIONS)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(actions)")}
        assert "grp" in columns
        assert conn.execute("SELECT status FROM actions WHERE id='a0'").fetchone()[0] == "SUCCEEDED"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"runs", "actions", "deployments", "triggers", "connector_jobs"} <= tables
    finally:
        conn.close()


def test_one_writer_serves_every_run_of_the_process_until_its_file_is_replaced(flyte_home):
    first = st.writer()
    assert st.writer() is first
    first.flush()
    st.db_path().rename(st.db_path().with_suffix(".moved"))
    second = st.writer()
    assert second is not first  # a writer never keeps writing into a file moved aside
    second.create_run("r", "t", None)
    second.flush()
    with st.reader() as conn:
        assert conn.execute("SELECT task FROM runs WHERE name='r'").fetchone()[0] == "t"


def test_a_thread_reuses_its_reader_only_for_the_same_file_and_never_inside_another(flyte_home):
    first = st.RunStore()
    first.create_run("r-old", "t", None)
    first.close()
    with st.reader() as conn:
        outer = conn
        conn.execute("BEGIN")
        with st.reader() as inner:  # inside another reader: a connection of its own
            assert inner is not outer
            kept = inner  # the first to end is the one the thread keeps
            assert [r[0] for r in inner.execute("SELECT name FROM runs")] == ["r-old"]
        assert conn.in_transaction  # the inner reader did not end the outer's transaction
        conn.execute("COMMIT")
    with st.reader() as conn:
        assert conn is kept  # kept for the next read on this thread
    # The file moved aside (as the damaged-store message says to do) and a new one started:
    # the next read sees the new file, not the kept connection's old one.
    st.db_path().rename(flyte_home / "runs.db.aside")
    second = st.RunStore()
    second.create_run("r-new", "t", None)
    second.close()
    with st.reader() as conn:
        assert conn is not kept
        assert [r[0] for r in conn.execute("SELECT name FROM runs")] == ["r-new"]


def test_a_flush_commits_on_the_callers_thread_without_the_writer(tmp_path, monkeypatch, committed_by):
    # The writer would only look again in an hour: what a flush leaves committed, the
    # caller committed itself.
    monkeypatch.setattr(st, "WRITE_INTERVAL", 3600)
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    try:
        store.create_run("r", "t", None)
        store.create_action("r", "a0", task="t", status="QUEUED")
        store.update_action("r", "a0", status="SUCCEEDED")
        store.end_run("r", st.SUCCEEDED, outputs="1")
        store.flush()
        assert committed_by == [threading.current_thread()]
        other = sqlite3.connect(path)  # another connection, as another process would read it
        try:
            assert other.execute("SELECT status, outputs FROM runs WHERE name='r'").fetchone() == (st.SUCCEEDED, "1")
            assert other.execute("SELECT status FROM actions WHERE id='a0'").fetchone() == (st.SUCCEEDED,)
        finally:
            other.close()
        store.flush()  # nothing pending: no empty transaction
        assert len(committed_by) == 1
    finally:
        store.close()


def test_a_writer_gone_to_sleep_is_woken_by_the_next_change(tmp_path, monkeypatch):
    monkeypatch.setattr(st, "WRITE_INTERVAL", 0.001)
    monkeypatch.setattr(st, "IDLE_POLLS", 2)
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    try:
        for _ in range(6000):  # waited for, not timed: two empty looks, then it sleeps
            if store._idle:
                break
            threading.Event().wait(0.01)
        assert store._idle
        store.create_action("r", "a0", task="t", status="QUEUED")  # nobody flushes
        reader = st.connect(path)
        try:
            for _ in range(6000):
                if reader.execute("SELECT 1 FROM actions WHERE id='a0'").fetchone():
                    break
                threading.Event().wait(0.01)
            assert reader.execute("SELECT status FROM actions WHERE id='a0'").fetchone()[0] == "QUEUED"
        finally:
            reader.close()
    finally:
        store.close()


def test_batches_taken_by_the_writer_and_by_flushes_commit_in_the_order_they_were_recorded(tmp_path, monkeypatch):
    # The writer looks all the time while callers flush: each action's last change must win.
    monkeypatch.setattr(st, "WRITE_INTERVAL", 0)
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    try:
        for i in range(300):
            store.create_action("r", f"a{i}", task="t", status="QUEUED", attempts=0)
            store.update_action("r", f"a{i}", status="RUNNING", attempts=1)
            if i % 7 == 0:
                store.flush()
            store.update_action("r", f"a{i}", status="SUCCEEDED", attempts=2)
        store.flush()
        rows = rows_of(path)
        assert {(r["status"], r["attempts"]) for r in rows.values()} == {("SUCCEEDED", 2)}
        assert len(rows) == 300
    finally:
        store.close()


def test_closing_while_other_threads_flush_ends_the_writer(tmp_path):
    # close() hands the writer a stop and waits for it: a flush on another thread at that
    # moment must neither take that hand-off nor write through a closed connection.
    path = tmp_path / "runs.db"
    for i in range(20):
        store = st.RunStore(path)
        stop = threading.Event()

        def flushing(store: st.RunStore = store, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                store.flush()

        flushers = [threading.Thread(target=flushing) for _ in range(2)]
        for t in flushers:
            t.start()
        store.create_run(f"r{i}", "t", None)
        store.close()
        stop.set()
        for t in flushers:
            t.join()
        assert not store._thread.is_alive()
    with st.reader(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 20


def test_a_caller_that_reaches_the_backlog_bound_waits_until_the_writer_has_written_it(
    tmp_path, monkeypatch, committed_by
):
    # The writer would only look again in an hour: a burst of actions is written each time
    # MAX_PENDING records wait (the caller wakes the writer and waits), so memory stays
    # bounded; the commits stay on the writer's thread.
    monkeypatch.setattr(st, "WRITE_INTERVAL", 3600)
    monkeypatch.setattr(st, "MAX_PENDING", 10)
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    try:
        for n in range(25):
            store.create_action("r", st.action_id(n), task="t", status="QUEUED")
            assert store._actions.count < 10
        assert committed_by and threading.current_thread() not in committed_by
        rows = rows_of(path)
        assert sorted(rows, key=st.action_number) == [st.action_id(n) for n in range(20)]
        for n in range(25):
            store.update_action("r", st.action_id(n), status="SUCCEEDED")
        store.flush()
        assert {r["status"] for r in rows_of(path).values()} == {"SUCCEEDED"} and len(rows_of(path)) == 25
    finally:
        store.close()


def test_an_index_no_query_reads_is_dropped_from_an_older_store(tmp_path):
    # Every action's insert pays for each index: a store keeps only those its queries use.
    path = tmp_path / "runs.db"
    st.connect(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE INDEX actions_by_task ON actions (task)")  # as stores before the step had
        conn.execute(f"PRAGMA user_version = {st.MIGRATIONS.index(st._drop_unread_indexes)}")
    finally:
        conn.close()
    st.connect(path).close()
    conn = sqlite3.connect(path)
    try:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(st.MIGRATIONS)
    finally:
        conn.close()
    assert "actions_by_task" not in indexes and {"actions_by_run_status", "actions_by_parent"} <= indexes


def run_row_of(path, name: str) -> dict:
    conn = st.connect(path)
    try:
        return dict(conn.execute("SELECT * FROM runs WHERE name=?", (name,)).fetchone())
    finally:
        conn.close()


def test_a_run_that_ends_before_its_row_is_written_is_inserted_once_ended(tmp_path, monkeypatch):
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    statements: list[str] = []
    commit = st.RunStore._commit

    def recording(conn, actions, pending):
        statements.extend(" ".join(sql.split()[:3]) for sql, _ in pending)
        commit(conn, actions, pending)

    monkeypatch.setattr(st.RunStore, "_commit", staticmethod(recording))
    store.create_run("short", "t", '{"x": 1}')
    store.set_run_trigger("short", "hourly")  # a statement between the run's start and end
    store.end_run("short", st.SUCCEEDED, outputs="2")
    store.flush()
    assert statements == ["INSERT INTO runs", "UPDATE runs SET"]  # the trigger's; the end is in the insert
    row = run_row_of(path, "short")
    assert (row["status"], row["outputs"], row["trigger"], row["inputs"]) == (st.SUCCEEDED, "2", "hourly", '{"x": 1}')
    assert row["ended_at"] >= row["created_at"]

    # A run whose row was written while it went is ended by an update, its report kept.
    statements.clear()
    store.create_run("long", "t", None)
    store.flush()
    store.end_run("long", st.FAILED, error="ValueError: no")
    store.end_run("short", st.ABORTED, error="late")  # written already: an update, as before
    store.flush()
    store.close()
    assert statements == ["INSERT INTO runs", "UPDATE runs SET", "UPDATE runs SET"]
    long, short = run_row_of(path, "long"), run_row_of(path, "short")
    assert (long["status"], long["error"], long["ended_at"] is not None) == (st.FAILED, "ValueError: no", True)
    assert (short["status"], short["error"]) == (st.ABORTED, "late")


def test_many_new_actions_are_written_whole_however_they_are_grouped_into_statements(tmp_path):
    """More new actions than one multi-row INSERT takes, with several column sets (a None left
    out, a group, many columns), and changes to rows already written: every row as recorded."""
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    store.create_run("r", "t", None)
    expected: dict[str, dict] = {}
    for n in range(2 * st.ROWS_PER_INSERT + 7):
        fields = {"parent": "a0", "task": "t", "status": "SUCCEEDED", "queued_at": float(n), "inputs": f'{{"i":{n}}}'}
        if n % 3 == 1:
            fields["grp"] = "g"
        if n % 5 == 2:
            fields["error"] = None  # left out of the INSERT: NULL
        if n % 7 == 3:  # every column an action can have: fewer rows fit in one statement
            fields.update(short_name="s", attempts=2, cache="hit", cache_key="k" * 64, started_at=1.0, ended_at=2.0)
            fields.update(outputs="1", report="r.html", worker="w", error="e")
        ident = st.action_id(n + 1)
        store.create_action("r", ident, **fields)
        expected[ident] = {"number": n + 1, **fields}
    store.flush()
    for ident in list(expected)[:60]:  # written: changed in place (UPDATEs), one with a NULL
        store.update_action("r", ident, status="FAILED", error=None)
        expected[ident].update(status="FAILED", error=None)
    store.close()
    rows = rows_of(path)
    assert set(rows) == set(expected)
    for ident, fields in expected.items():
        assert {column: rows[ident][column] for column in fields} == fields, ident
    assert [r["id"] for r in sorted(rows.values(), key=lambda r: r["number"])] == list(expected)


def test_the_statements_of_a_write_stay_within_sqlites_oldest_limit_on_values():
    wide = {c: "x" for c in ("parent", "task", "short_name", "status", "inputs", "outputs", "error", "report")}
    wide.update({c: "x" for c in ("cache", "cache_key", "grp", "worker", "queued_at", "started_at", "ended_at")})
    actions = _new_actions({st.action_id(n): dict(wide, number=n) for n in range(1, 500)})
    for sql, rows in st._grouped(actions):
        assert all(len(values) == _parameters(sql) <= 999 for values in rows)
    assert sum(len(rows) * sql.count("(?") for sql, rows in st._grouped(actions)) == 499


def _new_actions(records: dict[str, dict]) -> st._Pending:
    """Records created in run "r", as a store holds them for its writer."""
    actions = st._Pending()
    actions.new["r"] = records
    actions.count = len(records)
    return actions


def _parameters(sql: str) -> int:
    """How many values a statement binds: its highest ?NNN, or its count of ?."""
    numbered = [int(n) for n in re.findall(r"\?(\d+)", sql)]
    return max(numbered) if numbered else sql.count("?")


@pytest.mark.parametrize(
    "count", [1, 2, 3, 25, st.ROWS_PER_INSERT - 1, st.ROWS_PER_INSERT, 2 * st.ROWS_PER_INSERT + 13]
)
def test_new_actions_a_look_finds_are_written_in_a_few_statements_in_order(tmp_path, count):
    """The rows a full statement does not take go in statements of the powers of two their
    count is made of (25: 16 + 8 + 1), not one per row; every row written, in order."""
    row = {"parent": "a0", "task": "t", "status": "SUCCEEDED", "queued_at": 1.5, "inputs": "{}"}
    actions = _new_actions({st.action_id(n): dict(row, number=n) for n in range(1, count + 1)})
    statements = st._grouped(actions)
    rest = count % st.ROWS_PER_INSERT
    assert len(statements) == (count >= st.ROWS_PER_INSERT) + bin(rest).count("1")
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    store.create_run("r", "t", None)
    for ident, fields in actions.new["r"].items():
        store.create_action("r", ident, **dict(fields))
    store.close()
    rows = rows_of(path)
    assert all({c: rows[ident][c] for c in row} == row for ident in rows)
    with sqlite3.connect(path) as conn:  # inserted in the order recorded
        assert [r[0] for r in conn.execute("SELECT id FROM actions ORDER BY rowid")] == [
            st.action_id(n) for n in range(1, count + 1)
        ]


def test_new_actions_with_the_same_columns_in_another_order_are_written_as_recorded(tmp_path):
    """Rows are grouped by their columns in order (a row's values are taken in its own
    order): records of the same columns named in another order, alternating, each as recorded."""
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    store.create_run("r", "t", None)
    expected = {}
    for n in range(1, 41):
        fields = {"task": f"t{n}", "status": "QUEUED", "inputs": f"{n}"}
        if n % 2:
            fields = dict(reversed(fields.items()))
        if n % 3 == 0:
            fields["grp"] = f"g{n}"
        store.create_action_record("r", st.action_id(n), dict(fields))
        expected[st.action_id(n)] = fields
    store.close()
    rows = rows_of(path)
    assert {ident: {c: rows[ident][c] for c in fields} for ident, fields in expected.items()} == expected


def test_a_text_every_row_of_a_statement_has_is_bound_once_and_stored_in_each_row(tmp_path):
    """store._rows_statement binds a str value every row of a statement has once (numbered
    parameters the rows share); values equal in Python but stored differently (1 and 1.0 in
    a TEXT column) are bound row by row."""
    shared = {"parent": "a0", "task": "t", "status": "SUCCEEDED", "cache": "hit"}
    records = {}
    for n in range(1, 2 * st.ROWS_PER_INSERT + 6):
        fields = {"number": n, **shared, "inputs": f"{n}", "worker": 1 if n % 2 else 1.0, "error": "same"}
        records[st.action_id(n)] = fields
    actions = _new_actions(records)
    statements = st._grouped(actions)
    first_sql, first_params = statements[0]
    assert "?1," in first_sql and len(first_params[0]) < st.ROWS_PER_INSERT * 11  # fewer values than rows x columns
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    store.create_run("r", "t", None)
    for ident, fields in records.items():
        store.create_action_record("r", ident, dict(fields))
    store.close()
    rows = rows_of(path)
    assert len(rows) == len(records)
    for ident, fields in records.items():
        assert {c: rows[ident][c] for c in (*shared, "inputs", "error")} == {
            c: fields[c] for c in (*shared, "inputs", "error")
        }
        assert rows[ident]["worker"] == ("1" if fields["worker"] == 1 and type(fields["worker"]) is int else "1.0")


def test_a_none_is_a_null_whichever_way_it_was_recorded(tmp_path):
    """Records said to hold no None are not looked through for one (the controller's); a None
    given anyway, or set by a later change before or after the row is written, is a NULL."""
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    store.create_run("r", "t", None)
    store.create_action_record("r", "a0", {"task": "t", "status": "RUNNING", "error": None, "attempts": 1})
    store.create_action_record("r", "a1", {"task": "t", "status": "RUNNING", "error": "e", "grp": "g"})
    store.update_action("r", "a1", error=None, status="SUCCEEDED")  # before the row is written
    store.create_action_record("r", "a2", {"task": "t", "status": "RUNNING", "error": "e", "worker": "w"})
    store.flush()
    store.update_action("r", "a2", worker=None)  # after: an UPDATE
    store.update_action("r", "a2", status="FAILED")  # a later change to the same pending record
    store.close()
    rows = rows_of(path)
    assert [(rows[a]["status"], rows[a]["error"], rows[a]["grp"], rows[a]["worker"]) for a in ("a0", "a1", "a2")] == [
        ("RUNNING", None, None, None),
        ("SUCCEEDED", None, "g", None),
        ("FAILED", "e", None, None),
    ]
    assert [rows[a]["number"] for a in ("a0", "a1", "a2")] == [0, 1, 2]


def test_an_end_recorded_from_a_dict_is_the_end_recorded_by_keywords(tmp_path):
    """update_action_record (the controller's end of a first attempt's success) writes what
    update_action writes, before or after the row's insert; a None said to be there is a NULL."""
    path = tmp_path / "runs.db"
    store = st.RunStore(path)
    store.create_run("r", "t", None)
    end = {"status": "SUCCEEDED", "attempts": 1, "ended_at": 12.5, "outputs": "1"}
    for ident in ("a0", "a1", "a2", "a3"):
        store.create_action_record("r", ident, {"task": "t", "status": "RUNNING", "started_at": 1.0})
    store.update_action("r", "a0", **end)  # pending: merged into the insert
    store.update_action_record("r", "a1", dict(end))
    store.flush()
    store.update_action("r", "a2", **end)  # written: an UPDATE
    store.update_action_record("r", "a3", {**end, "outputs": None}, True)
    store.close()
    rows = rows_of(path)
    columns = ("status", "attempts", "started_at", "ended_at", "outputs")
    assert [tuple(rows[a][c] for c in columns) for a in ("a0", "a1", "a2", "a3")] == [
        ("SUCCEEDED", 1, 1.0, 12.5, "1"),
        ("SUCCEEDED", 1, 1.0, 12.5, "1"),
        ("SUCCEEDED", 1, 1.0, 12.5, "1"),
        ("SUCCEEDED", 1, 1.0, 12.5, None),
    ]


def test_records_waiting_for_the_writer_leave_the_garbage_collector_nothing_to_walk(tmp_path, monkeypatch):
    """A gather of thousands of calls holds their records until the writer's next look: each
    is its dict of columns alone (text and numbers: untracked), so the collector, whose full
    collections walk every tracked object, has nothing more to count or walk per record."""
    monkeypatch.setattr(st, "WRITE_INTERVAL", 3600)  # the writer takes nothing meanwhile
    store = st.RunStore(tmp_path / "runs.db")
    try:
        store.create_run("r", "t", None)
        gc.collect()
        before = len(gc.get_objects())
        for n in range(1, 1001):
            record = {"number": n, "task": "t", "status": "SUCCEEDED", "queued_at": 1.0, "inputs": f"{n}"}
            store.create_action_record("r", st.action_id(n), record)
        store.update_action("r", st.action_id(1), outputs="1")  # merged into its pending record
        assert len(gc.get_objects()) - before < 50  # (was 2 a record: a key tuple and a list of flags)
        rows = store.flush(run="r", most=2000)
        assert rows is not None and len(rows.actions) == 1000
        assert rows.actions[0]["outputs"] == "1"
    finally:
        store.close()
