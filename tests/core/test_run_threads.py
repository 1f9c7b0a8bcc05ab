"""A run's loop runs on a thread kept from an earlier run (flyte.runtime.run_threads): a new
loop each time, no context variable of the caller or of an earlier run, and a new thread for a
run started inside a task attempt, whose threads belong to that attempt's log."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

import flyte
from flyte.remote import Run
from flyte.runtime import run_threads
from flyte.runtime.idle_threads import IdleThreads

env = flyte.TaskEnvironment(name="runthreads")
marker: contextvars.ContextVar[str | None] = contextvars.ContextVar("runthreads_marker", default=None)
loops: list[asyncio.AbstractEventLoop] = []  # kept alive: identity compared across runs


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()
    loops.clear()


@env.task
async def where() -> tuple[int, str | None]:
    loops.append(asyncio.get_running_loop())
    seen = marker.get()
    marker.set("set by a run")  # must not reach the next run on the same thread
    return threading.get_ident(), seen


@env.task
def nested_run() -> int:
    print("the outer attempt's line")
    return flyte.run(where).outputs()[0]


def test_runs_one_after_another_share_a_thread_but_never_a_loop_or_a_context_variable():
    token = marker.set("the caller's")
    try:
        first = flyte.run(where).outputs()
        second = flyte.run(where).outputs()
    finally:
        marker.reset(token)
    assert first[0] == second[0] != threading.get_ident()  # the kept thread, not the caller's
    assert first[1] is None and second[1] is None  # as in a new thread: nothing crosses over
    assert loops[0] is not loops[1] and loops[0].is_closed()
    assert run_threads.idle() >= 1


def test_a_run_started_inside_a_task_attempt_gets_a_new_thread_that_is_not_kept(monkeypatch):
    monkeypatch.setattr(run_threads, "_kept", IdleThreads())  # none kept yet
    kept = flyte.run(where).outputs()[0]
    assert run_threads.idle() == 1
    run = flyte.run(nested_run)  # takes the kept thread; the run inside gets a new one
    assert run.outputs() != kept
    assert run_threads.idle() == 1  # the new thread was not kept: it was bound to the attempt
    inner = [r for r in Run.listall(limit=10) if r.name != run.name]
    assert all(r.phase == "SUCCEEDED" for r in inner) and len(inner) == 2


failed_on: list[int] = []


@env.task
async def fails() -> None:
    failed_on.append(threading.get_ident())
    raise ValueError("no")


def test_a_failing_run_leaves_its_thread_kept_for_the_next():
    flyte.run(where)  # a thread kept from here on
    with pytest.raises(ValueError):
        flyte.run(fails)
    assert flyte.run(where).outputs()[0] == failed_on[-1]
