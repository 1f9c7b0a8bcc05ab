"""The side-by-side table: our SDK against the reference SDK (flyte 2.12.1, local mode).

Each workload of :mod:`side_by_side` runs in a fresh process per repeat, ours and the
reference's interleaved (the order alternates each repeat), so load that comes and goes on a
shared machine falls on both. Figures are medians of wall time per task, with CPU time
beside them (all threads of the process), and the ratio ours / reference.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OURS = sys.executable

# (row, workload, N for ours, N for the reference, unit) — the rows of issue #18's table.
ROWS = (
    ("gather of N children", "gather", 2000, 2000, "µs/task"),
    ("sequential awaits", "sequential", 2000, 2000, "µs/task"),
    ("sync child in a sync parent", "sync_in_sync", 2000, 1000, "µs/task"),
    ("sync child called from an async parent", "sync_from_async", 2000, 1000, "µs/task"),
    ("cache hit", "cache_hit", 2000, 1000, "µs/task"),
    ("cache miss", "cache_miss", 2000, 1000, "µs/task"),
    ("flyte.map, N items", "map", 10000, 2000, "µs/task"),
    ("a trivial flyte.run (per run)", "trivial_run", 200, 50, "ms/run"),
)
# Peak RSS per task: ours at 100k children, the reference at 10k (at 100k it takes minutes).
MEMORY = ("peak RSS per task, gather", 100_000, 10_000)

# Issue #18's figures for our SDK before this round (µs/task; ms/run; bytes/task).
BEFORE = {
    "gather": 45.6,
    "sequential": 42.7,
    "sync_in_sync": 412,
    "sync_from_async": 920,
    "cache_hit": 83.5,
    "cache_miss": 256,
    "map": 57,
    "trivial_run": 5.3,
    "memory": 2450,
}


def _environ(reference: bool = False, **extra: str) -> dict[str, str]:
    """This process's environment for a measured one: bytecode is written and reused as on a
    user's machine (a shell with PYTHONDONTWRITEBYTECODE would recompile every start), and
    the state root is the benchmark's own. The reference SDK's processes get no PYTHONPATH:
    the one naming a worktree's ``core/src`` (to measure that tree as ours) would shadow the
    reference's own flyte."""
    dropped = ("FLYTE_HOME", "PYTHONDONTWRITEBYTECODE") + (("PYTHONPATH",) if reference else ())
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, **extra}


def _once(python: str, workload: str, n: int, reference: bool) -> dict[str, float]:
    env = _environ(reference, FLYTE_BENCH_SDK="reference" if reference else "ours")
    proc = subprocess.run(
        [python, str(HERE / "side_by_side.py"), workload, str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode:
        raise RuntimeError(f"{workload} with {python} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pair(reference: str | None, workload: str, n_ours: int, n_ref: int, repeats: int) -> tuple[list, list]:
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for r in range(repeats):
        order = [(False, OURS, n_ours)] + ([(True, reference, n_ref)] if reference else [])
        for is_ref, python, n in order if r % 2 == 0 else reversed(order):
            sample = _once(python, workload, n, is_ref)
            sample["n"] = n
            (theirs if is_ref else ours).append(sample)
    return ours, theirs


def _per(samples: list[dict[str, float]], key: str, scale: float) -> float:
    return statistics.median(s[key] / s["n"] * scale for s in samples)


def _wall(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _starts(reference: str | None, repeats: int) -> list[tuple[str, str, float, float | None]]:
    """``import flyte`` and ``flyte run FILE TASK`` (the reference: ``flyte run --local``), wall ms."""
    work = tempfile.mkdtemp(prefix="flyte-bench-cold-")
    shutil.copy(HERE / "cold_start_task.py", work)
    env = _environ(FLYTE_HOME=os.path.join(work, "home"))
    ref_env = _environ(True, FLYTE_HOME=os.path.join(work, "home"))
    ours_cli = str(Path(OURS).parent / "flyte")
    ref_cli = str(Path(reference).parent / "flyte") if reference else None
    cases = {
        "import flyte": ([OURS, "-c", "import flyte"], [reference, "-c", "import flyte"] if reference else None),
        "flyte run FILE TASK (cold start)": (
            [ours_cli, "run", "cold_start_task.py", "trivial"],
            [ref_cli, "run", "--local", "cold_start_task.py", "trivial"] if ref_cli else None,
        ),
    }
    rows = []
    for label, (ours_cmd, ref_cmd) in cases.items():
        _wall(ours_cmd, work, env)  # warms the file cache and writes bytecode
        if ref_cmd:
            _wall(ref_cmd, work, ref_env)
        ours, theirs = [], []
        for r in range(repeats):
            pairs = [(ours, ours_cmd, env), (theirs, ref_cmd, ref_env)]
            for samples, cmd, cmd_env in pairs if r % 2 == 0 else reversed(pairs):
                if cmd:
                    samples.append(_wall(cmd, work, cmd_env))
        rows.append((label, "ms", statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3 if theirs else None))
    shutil.rmtree(work, ignore_errors=True)
    return rows


def table(reference: str | None, repeats: int, quick: bool) -> list[tuple[str, str, str, str, str, str]]:
    """Rows (measure, unit, before, ours [cpu], reference [cpu], ratio)."""
    rows = []
    for label, workload, n_ours, n_ref, unit in ROWS:
        if quick:
            n_ours, n_ref = max(n_ours // 4, 10), max(n_ref // 4, 10)
        ours, theirs = _pair(reference, workload, n_ours, n_ref, repeats)
        scale = 1e3 if unit == "ms/run" else 1e6
        wall, cpu = _per(ours, "wall", scale), _per(ours, "cpu", scale)
        ref_wall = _per(theirs, "wall", scale) if theirs else None
        ref_cpu = _per(theirs, "cpu", scale) if theirs else None
        rows.append(_row(f"{label} (N={n_ours:,})", unit, BEFORE[workload], wall, cpu, ref_wall, ref_cpu))
    label, n_ours, n_ref = MEMORY
    if quick:
        n_ours, n_ref = n_ours // 10, n_ref // 10
    ours, theirs = _pair(reference, "memory", n_ours, n_ref, max(1, repeats // 2))
    mem = statistics.median(s["peak_bytes"] / s["n"] for s in ours)
    ref_mem = statistics.median(s["peak_bytes"] / s["n"] for s in theirs) if theirs else None
    rows.append(
        _row(f"{label} (N={n_ours:,}; reference {n_ref:,})", "bytes/task", BEFORE["memory"], mem, None, ref_mem, None)
    )
    for label, unit, ours_ms, ref_ms in _starts(reference, repeats * 2):
        rows.append(_row(label, unit, None, ours_ms, None, ref_ms, None))
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _row(measure, unit, before, wall, cpu, ref_wall, ref_cpu) -> tuple[str, str, str, str, str, str]:
    ours = _fmt(wall) + (f" [{_fmt(cpu)}]" if cpu is not None else "")
    theirs = _fmt(ref_wall) + (f" [{_fmt(ref_cpu)}]" if ref_cpu is not None else "")
    ratio = f"{wall / ref_wall:.3f}" if ref_wall else "-"
    if ref_wall and cpu is not None and ref_cpu:
        ratio += f" [{cpu / ref_cpu:.3f}]"
    return measure, unit, _fmt(before), ours, theirs, ratio
