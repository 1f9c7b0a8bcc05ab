"""Plain sync children run on their caller's thread (flyte.runtime.inline) with every
semantic of the thread path: records, retries with back-off, errors, env isolation, nested
calls of every kind, and a stopped caller's children recorded as aborted."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

import flyte
import flyte.errors
from flyte.remote import Run

other = flyte.TaskEnvironment(name="inline_env", env_vars={"INLINE_ONLY": "child"})
env = flyte.TaskEnvironment(name="inline", depends_on=[other])
attempts: dict[str, int] = {}


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()
    attempts.clear()


@env.task
def thread_of() -> int:
    return threading.get_ident()


@env.task
def sync_parent_threads() -> tuple[int, int]:
    return threading.get_ident(), thread_of()


@env.task
async def async_parent_threads() -> tuple[int, int]:
    return threading.get_ident(), thread_of()


def test_a_plain_sync_child_runs_on_its_callers_thread_and_is_recorded():
    run = flyte.run(sync_parent_threads)
    parent, child = run.outputs()
    assert parent == child
    phases = {a.task: a.phase for a in Run.get(run.name).actions()}
    assert phases == {"inline.sync_parent_threads": "SUCCEEDED", "inline.thread_of": "SUCCEEDED"}
    run = flyte.run(async_parent_threads)
    parent, child = run.outputs()
    assert parent == child  # the caller blocks, as any sync call from async code does


@env.task(retries=flyte.RetryStrategy(count=2, backoff=0.05))
def flaky(tag: str) -> str:
    attempts[tag] = attempts.get(tag, 0) + 1
    if attempts[tag] < 3:
        raise ValueError(f"attempt {attempts[tag]}")
    return f"{tag} after {attempts[tag]}"


@env.task
def calls_flaky() -> str:
    return flaky("sync")


@env.task
async def async_calls_flaky() -> str:
    return flaky("async")


def test_retries_with_a_back_off_wait_on_the_callers_thread():
    run = flyte.run(calls_flaky)
    assert run.outputs() == "sync after 3"
    child = next(a for a in Run.get(run.name).actions() if a.task == "inline.flaky")
    assert (child.phase, child.attempts) == ("SUCCEEDED", 3)
    assert flyte.run(async_calls_flaky).outputs() == "async after 3"


@env.task
def fails() -> None:
    raise KeyError("missing")


@env.task
def calls_fails() -> tuple[str, bool]:
    try:
        fails()
    except KeyError as exc:
        return str(exc), isinstance(exc, flyte.errors.RuntimeUserError)
    return "no error", False


def test_a_failing_inline_child_is_recorded_failed_and_its_error_reaches_the_caller():
    run = flyte.run(calls_fails)
    assert run.outputs() == ("'missing'", True)
    child = next(a for a in Run.get(run.name).actions() if a.task == "inline.fails")
    assert child.phase == "FAILED" and "missing" in (child.error or "")


@other.task
def reads_env() -> str | None:
    return os.environ.get("INLINE_ONLY")


@env.task
def env_parent() -> tuple[str | None, str | None]:
    return reads_env(), os.environ.get("INLINE_ONLY")


def test_a_childs_env_vars_stay_with_the_child():
    assert flyte.run(env_parent).outputs() == ("child", None)


@env.task
async def async_grandchild(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@env.task(timeout=60)
def timed_grandchild(x: int) -> int:
    return x * 10


@env.task
def middle(x: int) -> int:
    # Called from async code, this body runs on the caller's (blocked) loop thread: its own
    # calls that need a loop get one of their own.
    return async_grandchild(x) + timed_grandchild(x) + thread_of() * 0


@env.task
async def top(x: int) -> int:
    return middle(x)


def test_calls_of_every_kind_from_a_body_driven_on_a_blocked_loop():
    run = flyte.run(top, 2)
    assert run.outputs() == 3 + 20
    assert {a.phase for a in Run.get(run.name).actions()} == {"SUCCEEDED"}
    assert len(Run.get(run.name).actions()) == 5


@env.task
def sleeps_inline() -> None:
    time.sleep(30)


@env.task(timeout=0.5)
def stopped_parent() -> None:
    sleeps_inline()


def test_the_child_of_a_stopped_caller_is_aborted_not_failed():
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.with_runcontext(name="stopped").run(stopped_parent)
    child = next(a for a in Run.get("stopped").actions() if a.task == "inline.sleeps_inline")
    assert child.phase == "ABORTED"
