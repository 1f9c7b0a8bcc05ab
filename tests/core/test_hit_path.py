"""A cache hit's short path (answered before an action object is made, its key from a per-task
part, the known entry read without the store's lock): the records, keys, events and freshness
a user relies on are what the general path gives."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest

import flyte
import flyte.errors
from flyte._cache.key import cache_key, task_part
from flyte._cache.store import CacheStore, ticket
from flyte.runtime import controller
from flyte.runtime import store as st


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


cached = flyte.TaskEnvironment(name="hit_path", cache="auto")
bodies: list[str] = []


@cached.task
async def labelled(x: int, label: str = "") -> dict[str, Any]:
    bodies.append("labelled")
    return {"x": x, "label": label}


@cached.task
def repeat(b: int, a: str) -> str:  # its parameters out of sorted order
    bodies.append("repeat")
    return a * b


@cached.task
async def single(i: int) -> int:
    bodies.append("single")
    return i + 1


@cached.task
async def fails(i: int) -> int:
    bodies.append("fails")
    raise ValueError(f"no {i}")


callers = flyte.TaskEnvironment(name="hit_path_callers", depends_on=[cached])


@callers.task
async def calls_them() -> list[Any]:
    with flyte.group("g1"):
        grouped = await asyncio.gather(labelled(1), labelled(2, label="é"))
    return [grouped, repeat(2, "ab"), await labelled(x=3), await single(4)]


COLUMNS = "id, number, parent, task, short_name, status, attempts, cache, cache_key, inputs, outputs, grp, error"
COLUMNS += ", report, worker, queued_at, started_at, ended_at"


def _rows(run: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(st.db_path())
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT {COLUMNS} FROM actions WHERE run=? ORDER BY number", (run,))]
    finally:
        conn.close()


def _key(task: Any, *args: Any, **kwargs: Any) -> str:
    return cache_key(task.spec, task.func, task.bind(args, kwargs))


def _hit(number: int, task: Any, inputs: str, outputs: str, key: str, parent: str | None, grp: str | None = None):
    return {
        "id": f"a{number}",
        "number": number,
        "parent": parent,
        "task": task.name,
        "short_name": task.func.__name__,
        "status": "SUCCEEDED",
        "attempts": 0,
        "cache": "hit",
        "cache_key": key,
        "inputs": inputs,
        "outputs": outputs,
        "grp": grp,
        "error": None,
        "report": None,
        "worker": None,
    }


def test_a_hits_record_is_the_whole_record_column_by_column():
    """Every column of a hit's row, in a group and out of it, a sync and an async child, and a
    hit that is the run's root (no parent): what the general path recorded (rows compared with
    main's before the short path: the same, times aside)."""
    first = flyte.run(calls_them)
    bodies.clear()
    run = flyte.run(calls_them)
    assert bodies == [] and run.outputs() == first.outputs()
    rows = _rows(run.name)
    times = [(r.pop("queued_at"), r.pop("started_at"), r.pop("ended_at")) for r in rows]
    assert rows[1:] == [
        _hit(1, labelled, '{"x":1,"label":""}', '{"x":1,"label":""}', _key(labelled, 1), "a0", "g1"),
        _hit(2, labelled, '{"x":2,"label":"é"}', '{"x":2,"label":"é"}', _key(labelled, 2, label="é"), "a0", "g1"),
        _hit(3, repeat, '{"b":2,"a":"ab"}', '"abab"', _key(repeat, 2, "ab"), "a0"),
        _hit(4, labelled, '{"x":3,"label":""}', '{"x":3,"label":""}', _key(labelled, 3), "a0"),
        _hit(5, single, '{"i":4}', "5", _key(single, 4), "a0"),
    ]
    assert all(q is not None and q == s == e for q, s, e in times[1:])  # made once, at once
    root = flyte.run(single, 4)
    (row,) = _rows(root.name)
    row.pop("queued_at"), row.pop("started_at"), row.pop("ended_at")
    assert row == _hit(0, single, '{"i":4}', "5", _key(single, 4), None)
    assert root.outputs() == 5 and bodies == []


def test_a_hit_is_seen_by_progress_listeners_as_queued_then_cached():
    flyte.run(single, 40)
    events: list[tuple[Any, ...]] = []

    def listener(*event: Any) -> None:
        events.append(event[1:])

    controller.listeners.append(listener)
    try:
        run = flyte.run(single, 40)
    finally:
        controller.listeners.remove(listener)
    assert run.outputs() == 41
    assert events == [("a0", "single", "QUEUED", 0, None), ("a0", "single", "CACHED", 0, None)]


def test_a_failed_call_is_recorded_and_never_cached():
    """A failure stays a failure on the next call: nothing was written, the body runs again."""
    bodies.clear()
    for _ in range(2):
        with pytest.raises(ValueError, match="no 3"):
            flyte.run(fails, 3)
    assert bodies == ["fails", "fails"]
    runs = flyte.remote.Run.listall(limit=2)
    for run in runs:
        (action,) = run.actions()
        assert (action.phase, action.cache) == ("FAILED", "miss")


@pytest.mark.parametrize(
    ("task", "inputs"),
    [
        (single, {"i": 3}),
        (single, {"i": True}),  # a bool is an int subclass: its own text
        (single, {"i": 2**70}),
        (single, {"i": 1.5}),  # a float: the canonical encoding, not the record's
        (single, {"i": None}),
        (single, {"i": [1, 2]}),
        (single, {"i": "é"}),
        (labelled, {"x": 1, "label": "a"}),  # parameters out of sorted order
        (repeat, {"b": 2, "a": "x"}),
        (repeat, {"a": "x", "b": 2}),  # keys in another order than the parameters
    ],
)
def test_a_key_from_the_tasks_shared_part_is_the_key_computed_alone(task: Any, inputs: dict[str, Any]):
    """Also when the record's encoder of the task's inputs said they are its parameters in
    order (the key then skips comparing their names)."""
    from flyte import _codec

    expected = cache_key(task.spec, task.func, inputs)
    assert task_part(task.spec, task.func).key(inputs, _codec.dumps(inputs)) == expected
    text = _codec.flat_encoder(tuple(task.signature.parameters))(inputs)
    if text is not None:
        assert task_part(task.spec, task.func).key(inputs, text, in_order=True) == expected


def test_a_lookup_without_the_lock_never_answers_older_than_its_call(tmp_path):
    """Freshness under threads: another connection overwrites an entry over and over while
    this handle's lookups (each checking, or answered from memory by another thread's check)
    run; every answer is at least the value committed before its call was made."""
    mine, theirs = CacheStore(tmp_path / "cache.db"), CacheStore(tmp_path / "cache.db")
    committed = 0
    stop = threading.Event()
    stale: list[tuple[int, int]] = []
    theirs.put("k", "t", "v", "0")

    def overwrite() -> None:
        nonlocal committed
        for i in range(1, 400):
            theirs.put("k", "t", "v", str(i))
            committed = i
        stop.set()

    def look() -> None:
        while not stop.is_set():
            before = committed  # committed before the call below is made
            got = mine.get("k", ticket())
            if got is None or int(got) < before:
                stale.append((before, -1 if got is None else int(got)))

    threads = [threading.Thread(target=overwrite), *(threading.Thread(target=look) for _ in range(3))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        mine.close()
        theirs.close()
    assert stale == []


def test_a_clear_through_the_same_handle_in_another_thread_is_seen_by_later_calls(tmp_path):
    mine = CacheStore(tmp_path / "cache.db")
    try:
        mine.put("k", "t", "v", '"x"')
        assert mine.get("k", ticket()) == '"x"'
        early = ticket()
        done = threading.Thread(target=mine.clear)
        done.start()
        done.join()
        assert mine.get("k", ticket()) is None  # made after the clear
        assert mine.get("k", early) is None  # made before it, looked up after: not kept either
    finally:
        mine.close()


undeclared = flyte.TaskEnvironment(name="hit_path_undeclared")


@undeclared.task
async def elsewhere() -> int:
    return 1


@callers.task
async def alternates() -> list[str]:
    """Calls a declared environment and an undeclared one in turn: each undeclared call is
    checked (the caller remembers only the environment its calls were last allowed into)."""
    seen = []
    for _ in range(2):
        seen.append(str(await single(1)))
        try:
            await elsewhere()
            seen.append("elsewhere ran")
        except flyte.errors.DependencyError:
            seen.append("refused")
    return seen


def test_calls_alternating_between_environments_are_each_checked():
    flyte.init(strict_dependencies=True)
    assert flyte.run(alternates).outputs() == ["2", "refused", "2", "refused"]


@callers.task
async def calls_overrides() -> list[int]:
    """The same task as called, then overridden: each object keys (or skips) the cache as its
    own spec says, whatever was worked out for the other first."""
    return [
        await single(7),
        await single.override(cache="disable")(7),
        await single.override(cache=flyte.Cache(behavior="override", version_override="v2"))(7),
        await single(7),
    ]


def test_an_override_keys_the_cache_by_its_own_settings_after_the_original_was_called():
    bodies.clear()
    run = flyte.run(calls_overrides)
    assert run.outputs() == [8, 8, 8, 8]
    assert bodies == ["single", "single", "single"]  # the original's second call: a hit
    caches = [a.cache for a in run.actions() if a.task == single.name]
    assert caches == ["written", "disabled", "written", "hit"]
    bodies.clear()
    assert flyte.run(calls_overrides).outputs() == [8, 8, 8, 8]
    assert bodies == ["single"]  # only the disabled one runs again


def test_a_task_copied_with_other_settings_works_its_cache_part_out_afresh():
    """What a task object worked out for its keys is its spec's: an override (a new object) or
    a connector task's copy and adoption start without it."""
    flyte.run(single, 70)
    assert single._cache_part is not None
    assert single.override(cache="disable")._cache_part is None
    from flyte_batch_job import BatchJobConfig, BatchJobTask

    job = BatchJobTask(
        name="resize", plugin_config=BatchJobConfig(endpoint="http://127.0.0.1:9", queue="q"), inputs={"n": int}
    )
    job._cache_part = "worked out"
    assert job.override(retries=2)._cache_part is None
    flyte.TaskEnvironment.from_task("hit_path_jobs", job)
    assert job._cache_part is None
