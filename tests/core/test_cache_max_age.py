"""``Cache.max_age``: the oldest result a task reuses; an older entry is recomputed and replaced."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

import flyte
from flyte._cache.store import get_store
from flyte.spec import TaskSpec

calls: list[str] = []
env = flyte.TaskEnvironment(name="aged")


@env.task(cache=flyte.Cache(behavior="auto", max_age=timedelta(hours=1)))
def hourly(x: int) -> int:
    calls.append("hourly")
    return x + 1


@env.task(cache=flyte.Cache(behavior="auto", max_age=3600, serialize=True))
def hourly_serialized(x: int) -> int:
    calls.append("hourly_serialized")
    return x + 2


@env.task(cache=flyte.Cache(behavior="auto", max_age=0))
def ageless(x: int) -> int:
    calls.append("ageless")
    return x + 3


@env.task(cache="auto")
def plain(x: int) -> int:
    calls.append("plain")
    return x + 4


@pytest.fixture(autouse=True)
def fresh_calls():
    flyte.init()
    calls.clear()


def _age_every_entry(by: timedelta) -> None:
    """Make every stored entry older, as another process (or time) would see it."""
    store = get_store()
    store.flush()
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE entries SET created_at = created_at - ?", (by.total_seconds(),))


def _cache_of(run) -> str:
    return run.actions()[0].cache


def test_the_limit_reads_back_as_a_timedelta_and_bad_ones_are_named():
    assert flyte.Cache("auto", max_age=90).max_age == timedelta(seconds=90)
    assert flyte.Cache("auto", max_age=timedelta(days=1)).max_age == timedelta(days=1)
    assert flyte.Cache("auto").max_age is None
    with pytest.raises(ValueError, match=r"cache.max_age: -5 is negative \(accepted: zero \(no age limit\)"):
        flyte.Cache("auto", max_age=-5)
    for wrong in (True, "1h", 1.5):
        with pytest.raises(TypeError, match=r"cache.max_age: .*a timedelta, a whole number of seconds, or None"):
            flyte.Cache("auto", max_age=wrong)


def test_the_limit_survives_the_specs_round_trip():
    spec = hourly.spec
    assert TaskSpec.from_dict(spec.to_dict()).cache.max_age == timedelta(hours=1)


@pytest.mark.parametrize("task", [hourly, hourly_serialized], ids=["lookup", "serialized"])
def test_an_entry_older_than_the_limit_is_recomputed_and_replaced(task):
    first = flyte.run(task, 1)
    again = flyte.run(task, 1)
    assert first.outputs() == again.outputs()
    assert calls == [task.spec.function_name] and _cache_of(again) == "hit"
    _age_every_entry(timedelta(minutes=59))
    assert _cache_of(flyte.run(task, 1)) == "hit"  # younger than an hour: reused
    _age_every_entry(timedelta(minutes=2))
    stale = flyte.run(task, 1)
    assert calls == [task.spec.function_name] * 2 and _cache_of(stale) != "hit"
    assert stale.outputs() == first.outputs()
    assert _cache_of(flyte.run(task, 1)) == "hit"  # the recomputed entry replaced the old one
    assert len(calls) == 2


def test_no_limit_or_zero_reuses_an_entry_of_any_age():
    flyte.run(ageless, 1)
    flyte.run(plain, 1)
    _age_every_entry(timedelta(days=3650))
    assert _cache_of(flyte.run(ageless, 1)) == "hit"
    assert _cache_of(flyte.run(plain, 1)) == "hit"
    assert calls == ["ageless", "plain"]


def test_a_result_computed_in_this_run_is_reused_within_the_limit():
    @env.task
    async def twice() -> list[int]:
        return [await hourly.aio(5), await hourly.aio(5)]

    assert flyte.run(twice).outputs()[0] == [6, 6]
    assert calls == ["hourly"]  # the second call read the entry the first one wrote
