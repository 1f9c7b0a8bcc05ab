"""``await sync_task(...)`` in an async task, as the public trace example writes it
(``output = await finalize_output(output)`` with ``def finalize_output``): the call is awaited
where it is made, so it runs as ``await sync_task.aio(...)`` would, a recorded child action,
without blocking the caller's loop. A sync task called from async code *without* await still
returns its value, as any sync call does."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import flyte
from flyte.remote import Run

env = flyte.TaskEnvironment(name="await_sync")


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


@env.task
def finalize(text: str) -> str:
    return f"final: {text}"


@env.task
def slow_square(x: int) -> int:
    time.sleep(0.3)
    return x * x


@env.task
async def traced(prompt: str) -> str:
    return await finalize(prompt)


@env.task
async def mixed(prompt: str) -> dict[str, str]:
    awaited = await finalize(prompt)
    plain = finalize(prompt)  # not awaited: the value, as a sync call returns it
    via_aio = await finalize.aio(prompt)
    return {"awaited": awaited, "plain": plain, "aio": via_aio}


@env.task
async def loop_stays_free() -> list[int]:
    # While the awaited sync child runs, this loop keeps turning: the ticker advances.
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    tick = asyncio.create_task(ticker())
    value = await slow_square(3)
    tick.cancel()
    return [value, ticks]


@env.task(timeout=30)
async def on_its_own_thread(x: int) -> int:
    # A time limit puts the async body on a thread of its own: the awaited call goes to its loop.
    assert threading.current_thread() is not threading.main_thread()
    return await slow_square(x)


def test_an_awaited_sync_task_gives_its_value_and_is_a_recorded_child():
    run = flyte.run(traced, prompt="Prompt to LLM")
    assert run.outputs()[0] == "final: Prompt to LLM"
    actions = Run.get(run.name).actions()
    assert [a.task for a in actions] == ["await_sync.traced", "await_sync.finalize"]
    assert actions[1].parent == actions[0].id and actions[1].phase == "SUCCEEDED"


def test_awaited_plain_and_aio_calls_agree():
    out = flyte.run(mixed, prompt="p").outputs()[0]
    assert out == {"awaited": "final: p", "plain": "final: p", "aio": "final: p"}


def test_an_awaited_sync_task_does_not_block_the_callers_loop():
    value, ticks = flyte.run(loop_stays_free).outputs()[0]
    assert value == 9
    assert ticks >= 3  # 0.3 s of the child at 0.02 s a tick; a blocked loop would count 0


def test_an_awaited_sync_task_from_a_body_with_a_time_limit():
    assert flyte.run(on_its_own_thread, x=4).outputs()[0] == 16


pooled = flyte.TaskEnvironment(
    name="await_sync_pool", reusable=flyte.ReusePolicy(replicas=1, concurrency=2, idle_ttl=30)
)


@pooled.task
async def pooled_parent(prompt: str) -> list[str]:
    # In a reusable environment's worker process the call goes back to the driver.
    return [await finalize(prompt), finalize(prompt)]


pooled.add_dependency(env)


def test_an_awaited_sync_task_from_a_reusable_workers_async_task():
    assert flyte.run(pooled_parent, prompt="w").outputs()[0] == ["final: w", "final: w"]
