"""A short run's final page made from the rows its last commit wrote (flyte.runtime.written),
not read back from the store: byte for byte the page the store's rows give, for runs that
succeed, fail, call children in groups, hit the cache or report; and the store's rows
themselves equal what ``SELECT *`` reads. Where the rows are not all in that commit (the
writer took part of the run, another change to the run waits beside it, the run is larger
than a page, a value's stored form is not certain) the page reads the store as before."""

from __future__ import annotations

import asyncio
import math

import pytest

import flyte
from flyte._phase import Phase
from flyte.runtime import page, written
from flyte.runtime import store as st

cached = flyte.TaskEnvironment(name="written_cached", cache="auto")
env = flyte.TaskEnvironment(name="written", depends_on=[cached])


@env.task
async def quick() -> int:
    return 1


@env.task
async def leaf(i: int) -> int:
    if i == 2:
        raise ValueError("two is <not> & 'allowed'")
    return i


@cached.task
async def remembered(i: int) -> int:
    return i * 2


@env.task
async def fan_out(n: int) -> int:
    with flyte.group("first"):
        results = await asyncio.gather(*(leaf(i) for i in range(n)), return_exceptions=True)
    return sum(r for r in results if isinstance(r, int))


@env.task
async def fails() -> int:
    await leaf(2)
    return 0


@env.task
async def hits(n: int) -> int:
    return sum(await asyncio.gather(*(remembered(i) for i in range(n))))


@env.task(report=True)
async def reports() -> int:
    flyte.report.replace("<p>a report</p>")
    return 1


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each final page was made from the written rows. The store's writer does not
    look while the test's runs go: a look that took part of a run would make its page read
    the store (as it should), which these tests would not tell from a failure."""
    monkeypatch.setattr(st, "WRITE_INTERVAL", 60.0)
    made: list[bool] = []
    write = page.write_run_page

    def spy(name: str, store: object = None, written: object = None) -> str:
        made.append(written is not None)
        return write(name, store, written)

    monkeypatch.setattr(page, "write_run_page", spy)
    return made


def _run(task, *args) -> str:
    try:
        return flyte.run(task, *args).name
    except Exception:
        with st.reader() as conn:
            return st.run_rows(conn, 1)[0]["name"]


@pytest.mark.parametrize(
    ("task", "args"),
    [(quick, ()), (fan_out, (5,)), (fails, ()), (hits, (4,)), (reports, ())],
    ids=["trivial", "children-in-a-group-one-failing", "failed", "cache-hits", "a-report"],
)
def test_the_page_from_written_rows_is_the_page_from_the_store(flyte_home, pages, task, args):
    if task is hits:
        flyte.run(hits, 4)  # fills the cache: the run below hits it
        pages.clear()
    name = _run(task, *args)
    assert pages == [True]  # made from the rows its commit wrote
    made = (flyte_home / "pages" / f"{name}.html").read_text()
    assert made == _reread(name)
    if task is reports:
        assert 'a0/report.html">report</a>' in made


def _reread(name: str) -> str:
    """The run's page made from what the store holds (a reader's connection), as before."""
    from flyte.ui import templates, views

    links = templates.StaticLinks()
    main, live = views.run_view(name, {}, links, details=page.DETAILS)
    return templates.document(f"run {name}", main, live, links)


def test_a_failed_runs_page_shows_its_failure_in_full(flyte_home, pages):
    name = _run(fails)
    assert pages == [True]
    made = (flyte_home / "pages" / f"{name}.html").read_text()
    assert "two is &lt;not&gt; &amp; &#x27;allowed&#x27;" in made  # escaped, with its traceback below
    assert 'id="action-a1"' in made
    assert made == _reread(name)


def test_a_run_larger_than_a_page_reads_the_store(flyte_home, pages):
    name = _run(fan_out, page.SMALL_RUN + 5)
    assert pages == [False]
    assert (flyte_home / "pages" / f"{name}.html").read_text() == _reread(name)


def _store_rows(name: str) -> tuple[dict, list[dict]]:
    with st.reader() as conn:
        run = dict(st.run_row(conn, name))
        actions = [dict(r) for r in st.action_rows(conn, name, None, -1, 0)]
    return run, actions


def test_written_rows_are_the_rows_select_reads(flyte_home):
    store = st.RunStore()
    try:
        store.create_run("r1", "t.root", '{"x": 1}')
        # An int in REAL columns, a Phase in a TEXT one, a bool in an INTEGER one.
        store.create_action("r1", "a0", task="t.root", status=Phase("RUNNING"), queued_at=5, attempts=True)
        store.update_action("r1", "a0", status=st.SUCCEEDED, started_at=6, ended_at=7.25, outputs="1")
        store.create_action("r1", "a1", parent="a0", task="t.leaf", status=st.FAILED, error="boom", grp="g")
        store.end_run("r1", st.FAILED, error="ValueError: boom")
        rows = store.flush(run="r1", most=10)
        assert rows is not None
        run, actions = _store_rows("r1")
        assert rows.run == run
        assert rows.actions == actions
        assert [type(v) for v in rows.actions[0].values()] == [type(v) for v in actions[0].values()]
        assert rows.actions[0]["queued_at"] == 5.0 and type(rows.actions[0]["queued_at"]) is float
        assert type(rows.actions[0]["status"]) is str and rows.actions[1]["attempts"] == 0  # the column's default
    finally:
        store.close()


def test_no_written_rows_when_the_writer_took_part_of_the_run(flyte_home):
    store = st.RunStore()
    try:
        store.create_run("r2", "t.root", None)
        store.flush()  # the run's insert committed before its end: the rows are not all in the last commit
        store.create_action("r2", "a0", task="t.root", status=st.SUCCEEDED)
        store.end_run("r2", st.SUCCEEDED, outputs="1")
        assert store.flush(run="r2", most=10) is None
        run, actions = _store_rows("r2")
        assert run["status"] == st.SUCCEEDED and len(actions) == 1  # committed all the same
    finally:
        store.close()


def test_no_written_rows_when_another_change_to_the_run_waits_beside_them(flyte_home):
    store = st.RunStore()
    try:
        store.create_run("r3", "t.root", None)
        store.create_action("r3", "a0", task="t.root", status=st.SUCCEEDED)
        store.set_run_trigger("r3", "nightly")  # an UPDATE of the run's row in the same commit
        store.end_run("r3", st.SUCCEEDED)
        assert store.flush(run="r3", most=10) is None
        assert _store_rows("r3")[0]["trigger"] == "nightly"
    finally:
        store.close()


def test_no_written_rows_for_more_actions_than_asked_or_an_uncertain_value(flyte_home):
    store = st.RunStore()
    try:
        store.create_run("r4", "t.root", None)
        for i in range(3):
            store.create_action("r4", f"a{i}", task="t.leaf", status=st.SUCCEEDED)
        store.end_run("r4", st.SUCCEEDED)
        assert store.flush(run="r4", most=2) is None
        store.create_run("r5", "t.root", None)
        store.create_action("r5", "a0", task="t.leaf", status=st.SUCCEEDED, started_at=math.nan)
        store.end_run("r5", st.SUCCEEDED)
        assert store.flush(run="r5", most=10) is None  # SQLite stores a NaN as NULL
        assert _store_rows("r5")[1][0]["started_at"] is None
    finally:
        store.close()


def test_stored_values_follow_sqlite_affinity():
    text, real, integer = (written.Column("c", a, None) for a in ("TEXT", "REAL", "INTEGER"))
    assert type(written.stored(text, Phase("FAILED"))) is str
    assert written.stored(text, 3) is written.UNKNOWN  # SQLite would store "3": not worked out here
    assert written.stored(real, 2) == 2.0 and type(written.stored(real, 2)) is float
    assert written.stored(real, 2**60) is written.UNKNOWN
    assert written.stored(real, "1.5") is written.UNKNOWN
    assert written.stored(integer, True) == 1 and type(written.stored(integer, True)) is int
    assert written.stored(integer, 1.0) is written.UNKNOWN
    assert written.stored(written.Column("c", "BLOB", None), b"x") is written.UNKNOWN
    assert written.stored(text, None) is None
    table = written.Table((written.Column("a", "TEXT", None), written.Column("n", "INTEGER", 0)))
    assert written.row(table, {"a": "x"}) == {"a": "x", "n": 0}
    assert list(written.row(table, {"n": 2, "a": "x"})) == ["a", "n"]  # the table's order, as SELECT *
    assert written.row(table, {"a": "x", "other": 1}) is None  # a column the table does not have
    assert written.row(table, {"a": 3}) is None
    unsettled = written.Table((written.Column("d", "TEXT", written.UNKNOWN),))
    assert written.row(unsettled, {}) is None and written.row(unsettled, {"d": "x"}) == {"d": "x"}
    assert written.affinity("VARCHAR(10)") == "TEXT" and written.affinity("BIGINT") == "INTEGER"
    assert written.affinity("DOUBLE") == "REAL" and written.affinity("") == "BLOB"
    assert written.affinity("DECIMAL") == "NUMERIC"
    assert written.default("0") == 0 and written.default(None) is None and written.default("'x'") is written.UNKNOWN
