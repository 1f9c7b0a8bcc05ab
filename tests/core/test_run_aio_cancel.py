"""Cancelling ``await flyte.run.aio(...)`` stops the run: its tasks are cancelled as Ctrl-C
cancels them, the run is recorded ABORTED before the cancelled caller goes on, and the caller
sees ``asyncio.CancelledError`` (or ``TimeoutError`` from ``asyncio.wait_for``).

No test asserts a duration: each proves the order of events (the body had not finished when
the caller went on; the record says ABORTED as soon as the caller goes on)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import flyte
from flyte.remote import Run

env = flyte.TaskEnvironment(name="aio_cancel")

started = threading.Event()
seen: dict[str, object] = {}


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()
    started.clear()
    seen.clear()
    yield


@env.task
async def sleeper(seconds: float) -> str:
    started.set()
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        seen["cancelled"] = True
        raise
    seen["finished"] = True
    return "slept"


@env.task
async def parent_of_sleepers(seconds: float) -> list[str]:
    return list(await asyncio.gather(sleeper(seconds), sleeper(seconds)))


@env.task
def sync_sleeper(seconds: float) -> str:
    started.set()
    limit = time.monotonic() + seconds
    while time.monotonic() < limit:  # a sync body on a thread of its own: stopped from outside
        time.sleep(0.01)
    seen["finished"] = True
    return "slept"


def newest_run() -> Run:
    return next(iter(Run.listall(limit=1)))


async def _start_then_cancel(task, *args) -> asyncio.Task:
    running = asyncio.ensure_future(flyte.run.aio(task, *args))
    while not started.is_set():  # the body runs: the run is really going
        await asyncio.sleep(0.01)
    running.cancel()
    return running


def test_cancelling_the_await_aborts_the_run_and_records_it_before_the_caller_goes_on():
    async def main() -> str:
        running = await _start_then_cancel(sleeper, 3600.0)
        with pytest.raises(asyncio.CancelledError):
            await running
        return newest_run().phase  # read at once: the record is already there

    assert asyncio.run(main()) == "ABORTED"
    run = newest_run()
    assert {a.phase for a in run.actions()} == {"ABORTED"}
    assert seen == {"cancelled": True}  # the body was cancelled, not left to finish
    assert "cancel" in (run.error or "").lower()


def test_wait_for_times_out_a_run_and_every_child_is_aborted():
    async def main() -> None:
        await asyncio.wait_for(flyte.run.aio(parent_of_sleepers, 3600.0), timeout=0.5)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    run = newest_run()
    assert run.phase == "ABORTED"
    phases = {a.task: a.phase for a in run.actions()}
    assert phases == {"aio_cancel.parent_of_sleepers": "ABORTED", "aio_cancel.sleeper": "ABORTED"}
    assert "finished" not in seen


def test_a_sync_body_on_its_own_thread_is_stopped_too():
    async def main() -> None:
        running = await _start_then_cancel(sync_sleeper, 3600.0)
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(main())
    assert newest_run().phase == "ABORTED"
    assert "finished" not in seen


def test_a_run_that_is_not_cancelled_returns_as_before():
    async def main() -> tuple[object, object]:
        run = await flyte.run.aio(sleeper, 0.0)
        second = await flyte.with_runcontext(name="aio-not-cancelled").run.aio(sleeper, 0.0)
        return run.outputs()[0], second.name

    assert asyncio.run(main()) == ("slept", "aio-not-cancelled")
    assert newest_run().phase == "SUCCEEDED"
