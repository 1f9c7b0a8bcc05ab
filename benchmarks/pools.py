"""Warm worker pools (reusable environments): call overhead and pool start.

    .venv/bin/python benchmarks/pools.py [--calls 500] [--repeats 5]

- per-call cost of N sequential child calls awaited by a parent in the driver: children in
  the driver's process (baseline), on a warm pool worker (the reusable case), and a cold
  Python process per call (what a pool saves);
- a pool of 4 workers, from creation until all 4 are ready, against one Python start
  (``python -c "import flyte.runtime.pool.worker"``, what a worker imports before it is ready;
  ``import flyte``; ``python -c pass``): the first pool of a process (its fork server starts
  too) and a later one (the fork server is running).

Medians of the repeats; run by hand on a quiet machine (tests never assert times).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

import flyte
from flyte.runtime.pool import registry as pools
from flyte.runtime.pool import spawner

driver = flyte.TaskEnvironment(name="bench_driver")
local = flyte.TaskEnvironment(name="bench_local")
pooled = flyte.TaskEnvironment(name="bench_pooled", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=600))
four = flyte.TaskEnvironment(name="bench_four", reusable=flyte.ReusePolicy(replicas=4, idle_ttl=600))
driver.add_dependency(local)
driver.add_dependency(pooled)


@local.task
async def here(i: int) -> int:
    return i + 1


@pooled.task
async def warm(i: int) -> int:
    return i + 1


@driver.task
async def calls(n: int, reusable: bool) -> int:
    child = warm if reusable else here
    total = 0
    for i in range(n):
        total += await child(i)
    return total


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def python_start(code: str) -> float:
    return timed(lambda: subprocess.run([sys.executable, "-c", code], check=True))


def pool_of_four(cold: bool) -> float:
    """Seconds from creating a pool of 4 until all 4 are ready; ``cold``: the fork server starts
    too (the first pool of a process), else the one a previous pool started is still running."""
    if cold:
        server = spawner.stop_fork_server()
        if server is not None:
            server.popen.wait()

    async def start() -> None:
        pool = pools.pool_for(next(iter(four.tasks.values())).spec) if four.tasks else None
        assert pool is not None
        while sum(1 for w in pool.workers if getattr(w, "ready", False)) < 4:
            await asyncio.sleep(0.001)

    seconds = timed(lambda: asyncio.run(start()))
    pools.shutdown_all()
    time.sleep(0.5)
    return seconds


@four.task
async def four_task() -> int:
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("FLYTE_HOME", tempfile.mkdtemp(prefix="flyte-bench-"))
    flyte.init()
    n = args.calls
    flyte.run(calls, 5, True)  # the pool starts and imports this module once
    in_process = statistics.median(timed(lambda: flyte.run(calls, n, False)) for _ in range(args.repeats))
    on_pool = statistics.median(timed(lambda: flyte.run(calls, n, True)) for _ in range(args.repeats))
    cold = statistics.median(python_start("import flyte; 1 + 1") for _ in range(args.repeats))
    pools.shutdown_all()
    time.sleep(0.5)
    four_start = statistics.median(pool_of_four(cold=True) for _ in range(args.repeats))
    four_warm = statistics.median(pool_of_four(cold=False) for _ in range(args.repeats))
    one_flyte = statistics.median(python_start("import flyte") for _ in range(args.repeats))
    one_bare = statistics.median(python_start("pass") for _ in range(args.repeats))
    one_worker = statistics.median(python_start("import flyte.runtime.pool.worker") for _ in range(args.repeats))
    per = lambda s: s / n * 1e3  # noqa: E731
    print("| figure | ours | baseline | ratio |")
    print("|---|---|---|---|")
    print(
        f"| one child call on a warm pool worker (ms, N={n}) | {per(on_pool):.3f} | in the driver's process: "
        f"{per(in_process):.3f} | +{per(on_pool) - per(in_process):.3f} ms |"
    )
    print(
        f"| one child call on a warm pool worker (ms) | {per(on_pool):.3f} | a cold Python process per call: "
        f"{cold * 1e3:.1f} | {per(on_pool) / (cold * 1e3):.3f}x |"
    )
    print(
        f"| pool of 4 workers, created to all ready, fork server starting too (s) | {four_start:.3f} | "
        f"one `python -c 'import flyte'`: "
        f"{one_flyte:.3f} | {four_start / one_flyte:.2f}x |"
    )
    print(
        f"| pool of 4 workers (s) | {four_start:.3f} | one worker's imports, `python -c 'import "
        f"flyte.runtime.pool.worker'`: {one_worker:.3f} | {four_start / one_worker:.2f}x |"
    )
    print(
        f"| pool of 4 workers, fork server already running (s) | {four_warm:.3f} | one worker's imports: "
        f"{one_worker:.3f} | {four_warm / one_worker:.2f}x |"
    )
    bare = f"{one_bare:.3f} | {four_start / one_bare:.2f}x"
    print(f"| pool of 4 workers (s) | {four_start:.3f} | `python -c pass`: {bare} |")


if __name__ == "__main__":
    main()
