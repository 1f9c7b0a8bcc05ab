"""Observability costs: `python benchmarks/observability.py [--quick]`.

1. Log capture on the per-task overhead: the same runs with capture on (the default) and off
   (``FLYTE_LOG_CAPTURE=0``), interleaved, medians; target: at most 5% more.
2. `flyte ui`: the run page of a run of 100,000 actions and the runs list of 10,000 runs,
   fetched over HTTP from the server on a free loopback port (medians; baseline: the same page
   of a run of 100 actions, of a list of 100 runs). Targets: 1 s and 0.5 s. Also the run's
   page on disk (written while a run goes) for the same run.

State goes to temporary state roots. Run by hand; tests never assert times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["FLYTE_HOME"] = tempfile.mkdtemp(prefix="flyte-bench-obs-")
sys.path.insert(0, str(Path(__file__).parent))

import flyte

env = flyte.TaskEnvironment(name="bench_obs")


@env.task
async def noop(i: int) -> int:
    return i


@env.task
async def prints(i: int) -> int:
    print(f"task {i} says hello")
    return i


@env.task
def noop_sync(i: int) -> int:
    return i


@env.task
async def gather_noop(n: int) -> int:
    return len(await asyncio.gather(*(noop(i) for i in range(n))))


@env.task
async def gather_prints(n: int) -> int:
    return len(await asyncio.gather(*(prints(i) for i in range(n))))


@env.task
def sync_parent(n: int) -> int:
    return sum(noop_sync(i) for i in range(n))


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def capture_overhead(repeats: int, n: int) -> list[tuple[str, float, float]]:
    """(workload, µs per task with capture, µs per task without) — medians, interleaved so
    the machine's load hits both alike."""
    flyte.init()
    workloads = {
        f"asyncio.gather of {n} async children": (gather_noop, n),
        f"{n} sync children of a sync parent": (sync_parent, n),
        f"asyncio.gather of {n} children that each print a line": (gather_prints, n),
    }
    rows = []
    quiet = open(os.devnull, "w")  # noqa: SIM115 (kept open for every run)
    for label, (task, size) in workloads.items():
        on, off = [], []
        flyte.run(task, 10)  # warm up
        for _ in range(repeats):
            for setting, samples in (("1", on), ("0", off)):
                os.environ["FLYTE_LOG_CAPTURE"] = setting
                real, sys.stdout = sys.stdout, quiet
                try:
                    samples.append(timed(lambda task=task, size=size: flyte.run(task, size)))
                finally:
                    sys.stdout = real
        os.environ["FLYTE_LOG_CAPTURE"] = "1"
        rows.append((label, statistics.median(on) / size * 1e6, statistics.median(off) / size * 1e6))
    return rows


def capture_work_per_attempt(n: int = 200_000) -> float:
    """µs of capture's own work for an attempt that prints nothing (its log object, the
    context variable, closing it), measured alone: the part of the figures above that noise
    cannot hide."""
    from flyte._context import current_body
    from flyte.runtime import logs

    def attempts() -> None:
        for i in range(n):
            log = logs.AttemptLog("rbench", f"a{i}", 1)
            token = current_body.set(current_body.get().but(log=log))
            current_body.reset(token)
            log.close()

    attempts()
    return statistics.median(timed(attempts) for _ in range(5)) / n * 1e6


def fill_runs(count: int, start: int = 0) -> None:
    from flyte.runtime import store as st

    conn = st.connect()
    now = time.time()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO runs (name, task, status, created_at, ended_at, host, pid, error) VALUES (?,?,?,?,?,?,?,?)",
        [
            (
                f"rlist{i:06d}",
                f"bench.task{i % 20}",
                st.FAILED if i % 10 == 3 else st.SUCCEEDED,
                now - i,
                now - i + 5,
                "bench",
                1,
                "ValueError: x" if i % 10 == 3 else None,
            )
            for i in range(start, start + count)
        ],
    )
    conn.execute("COMMIT")
    conn.close()


def fetch(url: str) -> int:
    with urllib.request.urlopen(url, timeout=120) as response:
        return len(response.read())


def ui_pages(repeats: int, actions: int, runs: int) -> list[tuple[str, float, float, str]]:
    from runs_show import fill

    from flyte.runtime.page import write_run_page
    from flyte.ui import server

    home = os.environ["FLYTE_HOME"]
    fill(home, "rbig", actions)
    fill(home, "rsmall", 100)
    httpd = server.start("127.0.0.1", 0)
    try:
        rows = []
        for label, url, base in (
            (f"run page, {actions:,} actions", f"{httpd.url}runs/rbig", f"{httpd.url}runs/rsmall"),
            (
                f"run page, {actions:,} actions, failed only, page 5",
                f"{httpd.url}runs/rbig?status=FAILED&offset=400",
                f"{httpd.url}runs/rsmall?status=FAILED",
            ),
            (
                f"action page in a {actions:,}-action run",
                f"{httpd.url}runs/rbig/actions/a417",
                f"{httpd.url}runs/rsmall/actions/a17",
            ),
        ):
            size = fetch(url)
            fetch(base)
            big = statistics.median(timed(lambda url=url: fetch(url)) for _ in range(repeats))
            small = statistics.median(timed(lambda base=base: fetch(base)) for _ in range(repeats))
            rows.append((label, big, small, f"{size / 1024:.0f} KiB"))
        big = statistics.median(timed(lambda: write_run_page("rbig")) for _ in range(repeats))
        small = statistics.median(timed(lambda: write_run_page("rsmall")) for _ in range(repeats))
        rows.append((f"page on disk, {actions:,} actions", big, small, ""))
        list_url = httpd.url
        query = f"{list_url}?status=FAILED&task=bench.task3&offset=100"
        fill_runs(98)  # with the two runs above: 100
        small = statistics.median(timed(lambda: fetch(list_url)) for _ in range(repeats))
        small_filtered = statistics.median(timed(lambda: fetch(query)) for _ in range(repeats))
        fill_runs(runs - 100, start=98)
        size = fetch(list_url)
        big = statistics.median(timed(lambda: fetch(list_url)) for _ in range(repeats))
        filtered = statistics.median(timed(lambda: fetch(query)) for _ in range(repeats))
        rows.append((f"runs list, {runs:,} runs (baseline: 100 runs)", big, small, f"{size / 1024:.0f} KiB"))
        rows.append((f"runs list, {runs:,} runs, phase + task filter, page 3", filtered, small_filtered, ""))
        return rows
    finally:
        httpd.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes")
    parser.add_argument("--only", choices=("capture", "ui"), help="only one of the two tables")
    args = parser.parse_args()
    repeats = 3 if args.quick else 11
    n = 500 if args.quick else 2000
    if args.only != "ui":
        print("| per-task overhead | capture on (µs/task) | capture off (µs/task) | ratio |")
        print("|---|---|---|---|")
        rows = capture_overhead(repeats, n)
        for label, on, off in rows:
            print(f"| {label} | {on:.1f} | {off:.1f} | {on / off:.3f} |")
        own, (_, _, off) = capture_work_per_attempt(), rows[0]
        label = "capture's own work per attempt that prints nothing, alone (beside: gather's µs/task)"
        print(f"| {label} | {own:.2f} | {off:.1f} | {(own + off) / off:.3f} |")
        print()
    if args.only == "capture":
        return
    actions = 20_000 if args.quick else 100_000
    runs = 2_000 if args.quick else 10_000
    print("| page | seconds | baseline: 100 actions / runs (s) | ratio | size |")
    print("|---|---|---|---|---|")
    for label, big, small, size in ui_pages(repeats, actions, runs):
        print(f"| {label} | {big:.3f} | {small:.3f} | {big / small:.2f} | {size} |")


if __name__ == "__main__":
    main()
