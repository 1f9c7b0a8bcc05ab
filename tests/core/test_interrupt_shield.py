"""A stopped body's interruption never lands inside flyte's code that its task call runs.

The interruption is an exception raised at the body thread's next Python instruction; landing
inside a task call's machinery (a lock taken by a Python ``__enter__`` that had not returned, a
future being resolved) it could leave a later call waiting forever. Each test below holds the
body's thread at one point of that machinery until the attempt is stopped (deterministically:
the hold waits for the stop, not for a time), then checks where the interruption arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import flyte
import flyte.errors
from flyte._typecheck import SignatureCheck
from flyte.errors import TaskInterruptedError
from flyte.runtime import bodies, controller, inline, logs, store
from flyte.runtime.interrupts import Shield
from flyte.task import TaskTemplate

env = flyte.TaskEnvironment(name="shield")
state: dict[str, Any] = {}
release = threading.Event()


@pytest.fixture(autouse=True)
def local_backend():
    global state, release
    flyte.init()
    state, release = {}, threading.Event()
    yield
    release.set()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    limit = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > limit:
            pytest.fail(f"gave up waiting ({timeout:g}s) for: {what}")
        time.sleep(0.02)


@env.task
def tick() -> int:
    return 1


@env.task(timeout=0.5)
def calls_once() -> None:
    mine = state
    mine["body"], mine["thread"] = bodies.current.get(), threading.get_ident()
    try:
        tick()
        mine["outcome"] = "returned"
    except TaskInterruptedError as exc:
        mine["outcome"] = f"interrupted: {exc}"
    except BaseException as exc:  # anything else is a failure of the test
        mine["outcome"] = f"{type(exc).__name__}: {exc}"


def hold_until_stopped(original: Callable[..., Any]) -> Callable[..., Any]:
    """``original``, held on the body's thread (the first time it runs there) until the
    body's attempt is stopped; notes an interruption that lands in the hold."""

    def held(*args: Any, **kwargs: Any) -> Any:
        mine = state
        if mine.get("thread") != threading.get_ident() or "held" in mine:
            return original(*args, **kwargs)
        mine["held"] = True
        try:
            while not mine["body"].stopped:  # its time limit passes meanwhile
                time.sleep(0.01)
            time.sleep(0.05)  # an interruption sent to this thread lands here, if anywhere
        except TaskInterruptedError:
            mine["landed"] = True
            raise
        return original(*args, **kwargs)  # (may raise the refusal of a child: not a landing)

    return held


# Flyte's code that a sync body's call of a plain sync task runs on the body's thread.
POINTS = [
    (store.RunStore, "create_action_record"),
    (store.RunStore, "update_action_record"),
    (controller.Controller, "_encode"),
    (controller.Controller, "_finish"),
    (logs.AttemptLog, "close"),
    (SignatureCheck, "check_output"),
    (TaskTemplate, "bind"),
]


@pytest.mark.parametrize("owner, name", POINTS, ids=[f"{o.__name__}.{n}" for o, n in POINTS])
def test_a_body_stopped_inside_a_task_call_is_interrupted_when_the_call_returns(monkeypatch, owner, name):
    monkeypatch.setattr(owner, name, hold_until_stopped(getattr(owner, name)))
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(calls_once)
    wait_until(lambda: "outcome" in state, "the body's task call to return")
    assert state.get("held"), f"{owner.__name__}.{name} did not run on the body's thread"
    assert "landed" not in state, "the interruption landed inside flyte's code"
    assert state["outcome"].startswith("interrupted: ")
    monkeypatch.undo()
    assert flyte.run(tick).outputs() == 1  # nothing was left held (a lock, the store's writer)


def test_a_body_stopped_while_its_call_is_driven_gets_no_interruption_inside_the_drive(monkeypatch):
    monkeypatch.setattr(inline, "drive", hold_until_stopped(inline.drive))
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(calls_once)
    wait_until(lambda: "outcome" in state, "the body's task call to return")
    assert state.get("held") and "landed" not in state
    assert state["outcome"].startswith("interrupted: ")


@env.task
def fails() -> None:
    raise ValueError("the child's own error")


@env.task(timeout=0.5)
def catches_its_childs_error() -> None:
    mine = state
    mine["body"], mine["thread"] = bodies.current.get(), threading.get_ident()
    try:
        fails()
    except ValueError:  # expected of the child: a stopped body must not go on because of it
        mine["outcome"] = "went on"
    except TaskInterruptedError as exc:
        mine["outcome"] = f"interrupted: {exc}"


def test_a_body_stopped_inside_a_failing_call_gets_the_interruption_not_the_childs_error(monkeypatch):
    monkeypatch.setattr(controller.Controller, "_finish", hold_until_stopped(controller.Controller._finish))
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(catches_its_childs_error)
    wait_until(lambda: "outcome" in state, "the body's task call to return")
    assert state.get("held") and "landed" not in state
    assert state["outcome"].startswith("interrupted: ")


@env.task
def spins() -> None:
    mine = state
    while not release.is_set():  # a CPU loop: only an interruption stops it
        mine["spins"] = mine.get("spins", 0) + 1


@env.task(timeout=0.5)
def calls_a_spinning_child() -> None:
    mine = state
    try:
        spins()
    except TaskInterruptedError:
        mine["child_interrupted"] = True


def test_a_child_body_on_its_callers_thread_is_still_interrupted():
    """The child's own code is a body's code: the interruption reaches it there."""
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(calls_a_spinning_child)
    wait_until(lambda: state.get("child_interrupted"), "the spinning child to be interrupted")


# -- the shield's rules, on this thread ------------------------------------------------------


def test_an_interruption_owed_while_flyte_code_runs_is_raised_on_return_to_a_stopped_body():
    shield = Shield()
    depth = shield.enter_flyte()
    shield.interrupt()  # flyte's code runs: owed, nothing raised here
    assert shield.owed
    with pytest.raises(TaskInterruptedError):
        shield.leave_flyte(depth, stopped=True)
    assert not shield.owed and shield.stack == []


def test_an_owed_interruption_is_dropped_when_the_body_was_not_stopped():
    shield = Shield()
    depth = shield.enter_flyte()
    shield.interrupt()  # (for a child's body that has ended since)
    shield.leave_flyte(depth, stopped=False)
    assert not shield.owed and shield.stack == []


def test_a_body_owed_an_interruption_does_not_start():
    shield = Shield()
    shield.interrupt()  # between bodies: owed
    with pytest.raises(TaskInterruptedError, match="before its body started"):
        shield.enter_body()
    assert shield.stack == [] and not shield.owed
    shield.enter_body()  # the next one starts
    assert shield.stack == [True]
    assert shield.leave_body(0) is False and shield.stack == []
