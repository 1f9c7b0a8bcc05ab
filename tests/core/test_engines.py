"""SharedEngine: the one lifecycle every engine plugin (Ray, Spark, Dask) uses.

The "engine" here is a real child process, so start/stop are observable by pid.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flyte.runtime.engines import SharedEngine


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not). Its /proc entry is read without a separate
    existence check first: the process can be reaped between the two."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _start(params: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], env={**os.environ, "P": params})


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def _engine(**kwargs) -> SharedEngine:
    return SharedEngine("test", start=_start, stop=_stop, **kwargs)


def test_users_of_one_key_share_one_engine_and_the_last_one_out_stops_it() -> None:
    engine = _engine()
    seen: list[int] = []

    async def user() -> None:
        async with engine.use("k", "a") as proc:
            seen.append(proc.pid)
            await asyncio.sleep(0.2)

    async def main() -> None:
        await asyncio.gather(*(user() for _ in range(4)))

    asyncio.run(main())
    assert engine.starts == 1 and len(set(seen)) == 1
    assert not _alive(seen[0])


def test_an_exclusive_engine_waits_for_other_settings_then_restarts() -> None:
    engine = _engine(exclusive=True)
    order: list[tuple[str, str, int]] = []

    async def user(key: str, hold: float) -> None:
        async with engine.use(key, key) as proc:
            order.append(("in", key, proc.pid))
            await asyncio.sleep(hold)
            order.append(("out", key, proc.pid))

    async def main() -> None:
        first = asyncio.create_task(user("a", 0.5))
        await asyncio.sleep(0.1)
        await asyncio.gather(first, user("b", 0.0))

    asyncio.run(main())
    assert [(kind, key) for kind, key, _ in order] == [("in", "a"), ("out", "a"), ("in", "b"), ("out", "b")]
    assert engine.starts == 2
    assert order[0][2] != order[2][2]


def test_a_non_exclusive_engine_runs_one_instance_per_key_at_once() -> None:
    engine = _engine(exclusive=False)
    pids: dict[str, int] = {}
    both_alive: list[bool] = []

    async def user(key: str, other: str) -> None:
        async with engine.use(key, key) as proc:
            pids[key] = proc.pid
            while other not in pids:  # both engines are up at the same time
                await asyncio.sleep(0.01)
            both_alive.append(_alive(pids["a"]) and _alive(pids["b"]))
            await asyncio.sleep(0.2)

    async def main() -> None:
        await asyncio.gather(user("a", "b"), user("b", "a"))

    asyncio.run(main())
    assert engine.starts == 2 and pids["a"] != pids["b"] and all(both_alive)


def test_keep_warm_reuses_the_engine_and_stops_it_after_the_idle_time() -> None:
    engine = _engine()

    async def once() -> int:
        async with engine.use("k", "a", keep_warm=1.0) as proc:
            return proc.pid

    first = asyncio.run(once())
    assert _alive(first)
    second = asyncio.run(once())  # another run, same process: warm
    assert second == first and engine.starts == 1
    _wait_for(lambda: not _alive(first))
    assert engine.running("k") is None


def test_a_failing_start_reaches_every_waiter_and_the_next_use_tries_again() -> None:
    attempts = []

    def start(params: str) -> subprocess.Popen:
        attempts.append(params)
        if len(attempts) == 1:
            time.sleep(0.2)
            raise RuntimeError("engine would not start")
        return _start(params)

    engine = SharedEngine("flaky", start=start, stop=_stop)

    async def user() -> int:
        async with engine.use("k", "p") as proc:
            return proc.pid

    async def main() -> list:
        return await asyncio.gather(user(), user(), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in results), results
    pid = asyncio.run(user())
    assert len(attempts) == 2 and not _alive(pid)


def test_a_warm_engine_is_stopped_when_the_interpreter_exits(tmp_path: Path) -> None:
    script = tmp_path / "warm.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, subprocess, sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from flyte.runtime.engines import SharedEngine
            from test_engines import _start, _stop

            engine = SharedEngine("exit", start=_start, stop=_stop)

            async def main():
                async with engine.use("k", "a", keep_warm=600) as proc:
                    print(proc.pid, flush=True)

            asyncio.run(main())
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    pid = int(out.stdout.split()[0])
    _wait_for(lambda: not _alive(pid))


@pytest.mark.parametrize("keep_warm", [None, 0.2])
def test_a_user_that_fails_still_releases_the_engine(keep_warm: float | None) -> None:
    engine = _engine()
    pids = []

    async def failing() -> None:
        async with engine.use("k", "a", keep_warm=keep_warm) as proc:
            pids.append(proc.pid)
            raise ValueError("task failed")

    with pytest.raises(ValueError):
        asyncio.run(failing())
    _wait_for(lambda: not _alive(pids[0]))


def test_a_user_cancelled_while_it_waits_for_the_engine_does_not_keep_it_forever() -> None:
    # A task that times out while another key holds an exclusive engine: when the holder
    # leaves, the engine must not stay taken by the waiter that is gone.
    engine = _engine(exclusive=True)
    pids: list[int] = []

    async def user(key: str, hold: float) -> None:
        async with engine.use(key, key) as proc:
            pids.append(proc.pid)
            await asyncio.sleep(hold)

    async def main() -> None:
        holder = asyncio.create_task(user("a", 0.5))
        await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(user("b", 0.0), 0.1)  # gives up while "a" holds the engine
        await holder
        await asyncio.wait_for(user("c", 0.0), 30)  # would wait forever for the abandoned "b"

    asyncio.run(main())
    _wait_for(lambda: not any(_alive(p) for p in pids))


def test_a_user_cancelled_while_its_engine_starts_does_not_leave_it_running() -> None:
    started: list[int] = []

    def slow_start(params: str) -> subprocess.Popen:
        time.sleep(0.5)
        proc = _start(params)
        started.append(proc.pid)
        return proc

    engine = SharedEngine("slow", start=slow_start, stop=_stop)

    async def user() -> None:
        async with engine.use("k", "a"):
            await asyncio.sleep(60)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(user(), 0.1)  # a timeout while the engine is still starting

    asyncio.run(main())
    _wait_for(lambda: len(started) == 1)
    _wait_for(lambda: not _alive(started[0]))  # stopped once up, as nobody holds it
    assert engine.running("k") is None
