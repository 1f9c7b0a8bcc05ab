"""A run's loop runs on a thread kept from an earlier run (flyte.runtime.run_threads), and is
itself kept for the thread's next run (flyte.runtime.kept_loop) only when the run left nothing
on it: what a run leaves (a task, a timer, an async generator, an executor, a late callback, a
changed setting) is ended as asyncio.run ends it, and the next run gets a new loop. No context
variable of the caller or of an earlier run crosses over, and a run started inside a task
attempt gets a new thread, whose threads belong to that attempt's log."""

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


def test_runs_one_after_another_share_a_thread_and_its_loop_but_never_a_context_variable():
    token = marker.set("the caller's")
    try:
        first = flyte.run(where).outputs()
        second = flyte.run(where).outputs()
    finally:
        marker.reset(token)
    assert first[0] == second[0] != threading.get_ident()  # the kept thread, not the caller's
    assert first[1] is None and second[1] is None  # as in a new thread: nothing crosses over
    assert loops[0] is loops[1] and not loops[0].is_closed()  # the run left nothing on it: kept
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


ended: list[str] = []  # what the leftovers of a run did, in order


async def _forever() -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        ended.append("task cancelled")


async def _numbers():
    try:
        yield 1
        yield 2
    finally:
        ended.append("generator closed")


kept_generators: list = []


@env.task
async def leaves_a_task() -> None:
    loops.append(asyncio.get_running_loop())
    kept_generators.append(asyncio.create_task(_forever()))  # referenced: not collected


@env.task
async def leaves_a_timer() -> None:
    loops.append(asyncio.get_running_loop())
    asyncio.get_running_loop().call_later(3600, ended.append, "timer fired")


@env.task
async def leaves_a_generator() -> None:
    loops.append(asyncio.get_running_loop())
    numbers = _numbers()
    kept_generators.append(numbers)
    assert await numbers.__anext__() == 1


@env.task
async def uses_the_default_executor() -> None:
    loops.append(asyncio.get_running_loop())
    assert await asyncio.to_thread(lambda: 2) == 2


@env.task
async def changes_the_task_factory() -> None:
    loops.append(asyncio.get_running_loop())
    asyncio.get_running_loop().set_task_factory(lambda loop, coro, **kw: asyncio.Task(coro, loop=loop, **kw))


@pytest.mark.parametrize(
    ("leaver", "when_it_ends"),
    [
        (leaves_a_task, ["task cancelled"]),  # cancelled and awaited before flyte.run returns
        (leaves_a_timer, []),  # never fires: not in this run, not in the next
        (leaves_a_generator, ["generator closed"]),  # its finally ran, as asyncio.run closes it
        (uses_the_default_executor, []),
        (changes_the_task_factory, []),
    ],
)
def test_a_run_that_leaves_something_on_its_loop_closes_it_and_the_next_run_gets_a_new_one(leaver, when_it_ends):
    flyte.run(where)  # the thread and its loop are kept from here on
    ended.clear()
    flyte.run(leaver)
    assert ended == when_it_ends  # ended when its run ended, as asyncio.run ends it
    flyte.run(where)
    assert loops[0] is loops[1]  # the same thread's kept loop ran the leaver...
    assert loops[1].is_closed() and loops[2] is not loops[1]  # ...and was not kept after it
    assert ended == when_it_ends  # nothing of the leaver's ran in the next run
    kept_generators.clear()


def test_a_callback_that_reaches_a_kept_loop_between_runs_never_runs_in_the_next():
    flyte.run(where)
    late: list[str] = []
    loops[0].call_soon_threadsafe(late.append, "late")  # e.g. a body that outlived its run
    flyte.run(where)
    assert late == [] and loops[0].is_closed() and loops[1] is not loops[0]
    flyte.run(where)
    assert loops[2] is loops[1]  # kept again once a run leaves nothing
