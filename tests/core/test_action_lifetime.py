"""The abort guide's action lifetime: when the root action exits, every descendant still going
is aborted. Its body gets ``asyncio.CancelledError`` to clean up; however the body then ends
(returning, re-raising, raising something else), the action is recorded ABORTED, not retried."""

from __future__ import annotations

import asyncio

import pytest

import flyte
from flyte.remote import Run

# A guard, not a speed limit: before the rule, a child that raised in its cleanup was retried
# after the root ended, and the run waited for that retry's hour-long sleep.
pytestmark = pytest.mark.timeout(300)

env = flyte.TaskEnvironment(name="lifetime")
cleaned: list[str] = []
left_running: list[asyncio.Task[str]] = []  # referenced, so the loop cannot collect them early


@env.task(retries=2)
async def sleeper(seconds: float, on_cancel: str) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        cleaned.append(on_cancel)
        if on_cancel == "raise":
            raise
        if on_cancel == "fail":
            raise ValueError("cleanup went wrong") from None
        return "cleaned up"
    return "slept"


@env.task
async def leaves_early(on_cancel: str) -> str:
    started = asyncio.Event()

    async def spawn() -> str:
        started.set()
        return await sleeper(3600, on_cancel)

    left_running.append(asyncio.create_task(spawn()))  # never awaited: the root returns while it sleeps
    await started.wait()
    await asyncio.sleep(0.05)  # the child action is created and sleeping
    return "root done"


@env.task
async def cancels_its_child() -> str:
    child = asyncio.create_task(sleeper(3600, "return"))
    await asyncio.sleep(0.05)
    child.cancel()
    return await child  # its body caught the cancel and returned: plain asyncio semantics


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()
    cleaned.clear()
    left_running.clear()


@pytest.mark.parametrize("on_cancel", ["return", "raise", "fail"])
def test_a_child_still_going_when_the_root_ends_is_aborted(on_cancel):
    run = flyte.run(leaves_early, on_cancel)
    assert run.outputs() == "root done" and run.phase == "SUCCEEDED"
    assert cleaned == [on_cancel]  # its body was told, and cleaned up
    root, child = Run.get(run.name).actions()
    assert (root.phase, child.phase, child.attempts) == ("SUCCEEDED", "ABORTED", 1)  # not retried
    assert child.error.startswith("ActionAbortedError: lifetime.sleeper")


def test_the_body_that_returned_after_the_cancel_says_why_it_is_aborted():
    run = flyte.run(leaves_early, "return")
    child = Run.get(run.name).actions()[1]
    assert child.error == "ActionAbortedError: lifetime.sleeper was aborted: the run's root action ended while it ran"


def test_a_child_its_parent_cancels_ends_as_its_body_does_while_the_root_goes_on():
    run = flyte.run(cancels_its_child)
    assert run.outputs() == "cleaned up"
    assert [a.phase for a in Run.get(run.name).actions()] == ["SUCCEEDED", "SUCCEEDED"]
