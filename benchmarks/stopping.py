"""How soon a timed-out attempt ends, whatever its body does: `python benchmarks/stopping.py [--quick]`.

Each body below would run for 300 s; its task has ``timeout=LIMIT``. The figures are medians
over several runs of the time from the limit passing (the body's first line + LIMIT) to
``flyte.run`` raising ``MaxRuntimeExceededError`` ("attempt ended"), and, for bodies that
start a process, to that process being gone ("processes gone"). The baseline is the first
figure for an async body that awaits (``asyncio.sleep``), which asyncio's own timeout
stops: the floor. Run by hand on a quiet machine; the tests assert none of this. Also
printed: the stack each nesting level of task calls costs (frames per level).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["FLYTE_HOME"] = tempfile.mkdtemp(prefix="flyte-bench-")

import flyte
import flyte.errors

LIMIT = 0.5
env = flyte.TaskEnvironment(name="bench_stop")
marks: dict[str, float] = {}
PID_FILE = Path(tempfile.mkdtemp(prefix="flyte-bench-pids-")) / "child.pid"
SHELL = f"echo $$ > {PID_FILE}; exec sleep 300"


def started() -> None:
    marks["start"] = time.monotonic()


def cpu_loop() -> None:
    started()
    while True:
        pass


def sleeps() -> None:
    started()
    time.sleep(300)


def socket_read() -> None:
    started()
    reader, _writer = socket.socketpair()
    reader.recv(1)  # nothing is ever written


def runs_a_process() -> None:
    started()
    subprocess.run(["sh", "-c", SHELL], check=False)


@env.task(timeout=LIMIT)
def sync_body(kind: str) -> None:
    SYNC_KINDS[kind]()


@env.task(timeout=LIMIT)
async def async_body(kind: str) -> None:
    if kind == "awaits (baseline)":
        started()
        await asyncio.sleep(300)
    elif kind == "asyncio subprocess":
        started()
        proc = await asyncio.create_subprocess_exec("sh", "-c", SHELL)
        await proc.wait()
    else:
        SYNC_KINDS[kind]()


SYNC_KINDS: dict[str, Callable[[], None]] = {
    "CPU loop": cpu_loop,
    "time.sleep": sleeps,
    "blocking socket read": socket_read,
    "subprocess.run": runs_a_process,
}


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def once(task: Any, kind: str) -> tuple[float, float | None]:
    PID_FILE.unlink(missing_ok=True)
    marks.clear()
    try:
        flyte.run(task, kind)
    except flyte.errors.MaxRuntimeExceededError:
        ended = time.monotonic()
    else:
        raise AssertionError(f"{kind}: the attempt was not timed out")
    limit_passed = marks["start"] + LIMIT
    if not PID_FILE.exists():
        return ended - limit_passed, None
    pid = int(PID_FILE.read_text())
    while alive(pid):
        time.sleep(0.001)
    return ended - limit_passed, time.monotonic() - limit_passed


def frames_per_level() -> dict[str, float]:
    def depth() -> int:
        frame, n = sys._getframe(), 0
        while frame is not None:
            frame, n = frame.f_back, n + 1
        return n

    @env.task
    async def nest_async(n: int) -> int:
        return depth() if n == 0 else await nest_async(n - 1)

    @env.task
    def nest_sync(n: int) -> int:
        return depth() if n == 0 else nest_sync(n - 1)

    levels = 20  # fewer than one fresh stack's worth
    return {
        task.short_name: (flyte.run(task, levels).outputs()[0] - flyte.run(task, 0).outputs()[0]) / levels
        for task in (nest_async, nest_sync)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    flyte.init()
    cases = [(async_body, "awaits (baseline)")]
    cases += [(sync_body, kind) for kind in SYNC_KINDS]
    cases += [(async_body, kind) for kind in (*SYNC_KINDS, "asyncio subprocess")]
    results: dict[tuple[str, str], tuple[float, float | None]] = {}
    for task, kind in cases:
        samples = [once(task, kind) for _ in range(repeats)]
        gone = [g for _, g in samples if g is not None]
        results[(task.short_name, kind)] = (
            statistics.median(s for s, _ in samples),
            statistics.median(gone) if gone else None,
        )
    baseline = results[("async_body", "awaits (baseline)")][0]

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"a timed-out attempt ends (timeout={LIMIT}s; median of {repeats}; {os.cpu_count()} cores)")
    for column in ("body", "blocks in", "attempt ended (ms)", "processes gone (ms)", "baseline (ms)", "ratio"):
        table.add_column(column, justify="left" if column in ("body", "blocks in") else "right")
    for (body, kind), (ended, gone) in results.items():
        table.add_row(
            body.replace("_body", ""),
            kind,
            f"{ended * 1e3:.1f}",
            "-" if gone is None else f"{gone * 1e3:.1f}",
            f"{baseline * 1e3:.1f}",
            f"{ended / baseline:.1f}x" if baseline > 0 else "-",
        )
    console = Console(width=140)
    console.print(table)
    per_level = frames_per_level()
    console.print(
        "stack per nesting level: "
        + ", ".join(f"{name} {frames:.0f} frames" for name, frames in per_level.items())
        + " (baseline: 1 frame for a plain recursive call); past 200 frames a child starts on a fresh stack"
    )


if __name__ == "__main__":
    main()
