"""One workload of the side-by-side table, measured in this interpreter (ours or the reference SDK's).

``python side_by_side.py WORKLOAD N [ROUNDS]`` prints one JSON line: wall and CPU seconds of
one run of the measured part (the mean of ``ROUNDS`` runs, 3 unless given), and the peak RSS
it added.

Why several rounds: a run of 2,000 calls makes enough objects that Python's garbage collector
does a full collection (it walks every object of the process) about once in several such
runs. Timing one run after a fill made that a lottery that the object counts decide
(benchmarks/README.md, round 12: the cache hit took 26.2 µs a call with the full collection
inside its one timed run, 17.4 without). Several back-to-back runs charge it as a user's
steady state does, for both SDKs alike. Written only against the public API the user guide
documents (``flyte.TaskEnvironment``, ``@env.task``, ``flyte.init``, ``flyte.run``,
``flyte.map``), so the same file runs on both SDKs; :mod:`run` starts it with each interpreter
in turn. State goes to a temporary directory (``FLYTE_HOME`` for ours, the working directory
for the reference, which keeps its local state beside it).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time

home = tempfile.mkdtemp(prefix="flyte-bench-")
os.environ["FLYTE_HOME"] = home
os.chdir(home)

import flyte  # noqa: E402

REFERENCE = os.environ.get("FLYTE_BENCH_SDK") == "reference"
cached = flyte.TaskEnvironment(name="bench_cached", cache="auto")
env = flyte.TaskEnvironment(name="bench", depends_on=[cached])  # (cached_parent calls cached_child)


@env.task
async def noop_async(i: int) -> int:
    return i


@env.task
def noop_sync(i: int) -> int:
    return i


@cached.task
async def cached_child(i: int) -> int:
    return i


@env.task
async def gather_parent(n: int, start: int = 0) -> int:
    return len(await asyncio.gather(*(noop_async(i) for i in range(start, start + n))))


@env.task
async def sequential_parent(n: int) -> int:
    total = 0
    for i in range(n):
        total += await noop_async(i)
    return total


@env.task
def sync_parent(n: int) -> int:
    return sum(noop_sync(i) for i in range(n))


@env.task
async def sync_from_async_parent(n: int) -> int:
    total = 0
    for i in range(n):
        # The reference SDK awaits a sync task from async code through .aio; ours also accepts
        # the plain call the guide shows (the caller blocks, as any sync call does).
        total += await noop_sync.aio(i) if USE_AIO else noop_sync(i)
    return total


@env.task
async def cached_parent(n: int, start: int = 0) -> int:
    return len(await asyncio.gather(*(cached_child(i) for i in range(start, start + n))))


@env.task
def map_parent(n: int) -> int:
    # Async children: ours runs them concurrently on the run's loop (sync ones each get a
    # thread, so they can block); the reference runs a local map's children one by one.
    return sum(flyte.map(noop_async, range(n)))


@env.task
async def trivial() -> int:
    return 1


USE_AIO = REFERENCE
ROUNDS = 3  # timed runs of a per-task workload (see the module's docstring)


def measure(workload: str, n: int, rounds: int) -> tuple[float, float]:
    """Wall and CPU seconds of one run of the measured part, the mean of ``rounds`` runs
    (setup and warm-up excluded)."""
    parents = {
        "gather": gather_parent,
        "sequential": sequential_parent,
        "sync_in_sync": sync_parent,
        "sync_from_async": sync_from_async_parent,
        "map": map_parent,
    }
    if workload in parents:
        parent = parents[workload]
        flyte.run(parent, 10)  # warm-up
        return timed(lambda: flyte.run(parent, n), rounds)
    if workload == "cache_hit":
        flyte.run(cached_parent, n)  # fills the cache
        return timed(lambda: flyte.run(cached_parent, n), rounds)
    if workload == "cache_miss":  # each round's inputs are new: every call misses and writes
        flyte.run(cached_parent, 10, start=-100)
        starts = iter(range(0, rounds * n, n))
        return timed(lambda: flyte.run(cached_parent, n, start=next(starts)), rounds)
    if workload == "trivial_run":
        flyte.run(trivial)

        def runs() -> None:
            for _ in range(n):
                flyte.run(trivial)

        return timed(runs)  # (already n runs: one round)
    raise SystemExit(f"unknown workload {workload!r}")


def timed(fn, rounds: int = 1) -> tuple[float, float]:
    """Wall and CPU seconds of one call of ``fn``: the mean of ``rounds`` calls back to back."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - wall) / rounds, (time.process_time() - cpu) / rounds


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    workload, n = sys.argv[1], int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else ROUNDS
    flyte.init()
    if workload == "memory":
        flyte.run(gather_parent, 10)
        before = rss_kib()
        wall, cpu = timed(lambda: flyte.run(gather_parent, n))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        print(json.dumps({"wall": wall, "cpu": cpu, "peak_bytes": (peak - before) * 1024}))
        return
    wall, cpu = measure(workload, n, rounds)
    print(json.dumps({"wall": wall, "cpu": cpu}))


if __name__ == "__main__":
    main()
