"""Nested task calls as deep as the guide's recursive examples go: 1,000 levels and more."""

from __future__ import annotations

import pytest

import flyte
from flyte.remote import Run

env = flyte.TaskEnvironment(name="deep")


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


@env.task
async def count_down(n: int) -> int:
    return 0 if n == 0 else 1 + await count_down(n - 1)


@env.task
def count_down_sync(n: int) -> int:
    return 0 if n == 0 else 1 + count_down_sync(n - 1)


@env.task
async def async_then_sync(n: int) -> int:
    return 0 if n == 0 else 1 + sync_then_async(n - 1)


@env.task
def sync_then_async(n: int) -> int:
    return 0 if n == 0 else 1 + async_then_sync(n - 1)


@env.task(timeout=600)
async def count_down_timed(n: int) -> int:
    return 0 if n == 0 else 1 + await count_down_timed(n - 1)


def assert_a_chain(run: Run, depth: int) -> None:
    actions = {a.id: a for a in Run.get(run.name).actions()}
    assert len(actions) == depth + 1 and {a.phase for a in actions.values()} == {"SUCCEEDED"}
    roots = [a for a in actions.values() if a.parent is None]
    assert len(roots) == 1
    children = {a.parent: a for a in actions.values() if a.parent is not None}
    assert len(children) == depth  # each action has exactly one child, down to the last


@pytest.mark.parametrize("task", [count_down, count_down_sync, async_then_sync], ids=lambda t: t.short_name)
def test_a_chain_of_1000_nested_calls_works(task):
    run = flyte.run(task, 1000)
    assert run.outputs() == 1000
    assert_a_chain(run, 1000)


def test_a_deep_chain_of_calls_with_time_limits_works():
    # Each level's body runs on a thread of its own; the children run on the action's loop.
    run = flyte.run(count_down_timed, 300)
    assert run.outputs() == 300
    assert_a_chain(run, 300)
