"""Per-run cost: a trivial ``flyte.run`` (many runs in one process) and the cold start of
``flyte run FILE TASK`` and ``import flyte`` (a fresh process each), ours against a baseline
tree of ours and the reference SDK, interleaved.

    python benchmarks/per_run.py [--repeats 7] [--runs 200] [--src PATH] [--baseline-src PATH] [--callgrind]

``--baseline-src``: a ``core/src`` folder of another version of ours (for example
``git archive main core/src | tar -x -C /tmp/main``), put first on ``PYTHONPATH``; ``--src``: the
same for ours (default: the flyte installed in this interpreter, which for a worktree is
another checkout's). The reference
SDK is ``FLYTE_BENCH_REFERENCE`` (its interpreter; ``flyte run --local`` next to it). Every figure
is a median of ``--repeats`` fresh processes; the order of the interpreters rotates each repeat,
so load that comes and goes falls on all of them. CPU time is the process's (all threads; for a
cold start, the child's user + system time), the figure to judge by on a shared machine.

``--callgrind``: instead, instructions per trivial run (user space, every thread), which do not
move with the machine's load: ``valgrind --tool=callgrind`` over ``side_by_side.py trivial_run``
with 10 and with 60 runs, (I(60) - I(10)) / 50, ``--repeats`` samples per side (the writer's
50 ms looks fall differently under valgrind's slowdown: a sample can differ by a few %).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OURS = sys.executable


def _env(src: str | None, reference: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FLYTE_HOME", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env["FLYTE_BENCH_SDK"] = "reference" if reference else "ours"
    if src:
        env["PYTHONPATH"] = src
    return env


def _timed_child(cmd: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child process."""
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _trivial_runs(python: str, env: dict[str, str], runs: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per run of ``side_by_side.py trivial_run``."""
    import json

    out = subprocess.run(
        [python, str(HERE / "side_by_side.py"), "trivial_run", str(runs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sample = json.loads(out.strip().splitlines()[-1])
    return sample["wall"] / runs * 1e3, sample["cpu"] / runs * 1e3


def _instructions(python: str, env: dict[str, str], runs: int, work: str) -> int:
    """Instructions (callgrind's total) of ``side_by_side.py trivial_run RUNS`` in ``python``."""
    out = os.path.join(work, f"callgrind-{os.getpid()}-{runs}.out")
    workload = [str(HERE / "side_by_side.py"), "trivial_run", str(runs)]
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python, *workload],
        env=env,
        check=True,
        capture_output=True,
    )
    with open(out) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("totals:"))
    os.unlink(out)
    return total


def callgrind(sides: list[tuple[str, str, str | None, bool]], repeats: int) -> None:
    """Print instructions per trivial run of each side, (I(60) - I(10)) / 50, ``repeats`` samples."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--callgrind: valgrind is not installed")
    work = tempfile.mkdtemp(prefix="flyte-bench-callgrind-")
    print("instructions per trivial flyte.run, (I(60) - I(10)) / 50; median [samples]")
    medians = {}
    for name, python, src, is_ref in sides:
        env = _env(src, is_ref)
        samples = [
            (_instructions(python, env, 60, work) - _instructions(python, env, 10, work)) / 50 for _ in range(repeats)
        ]
        medians[name] = statistics.median(samples)
        print(f"{name}: {medians[name] / 1e6:.3f}M [{', '.join(f'{x / 1e6:.3f}' for x in samples)}]")
    for other in ("reference", "baseline"):
        if other in medians:
            print(f"ours / {other}: {medians['ours'] / medians[other]:.2f}")
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--runs", type=int, default=200, help="runs per process for the trivial flyte.run row")
    parser.add_argument("--src", help="core/src of the tree to measure as ours (first on PYTHONPATH)")
    parser.add_argument("--baseline-src", help="core/src of another version of ours (first on PYTHONPATH)")
    parser.add_argument("--callgrind", action="store_true", help="instructions per trivial run (valgrind; slow)")
    args = parser.parse_args()
    reference = os.environ.get("FLYTE_BENCH_REFERENCE") or None
    sides = [("ours", OURS, str(Path(args.src).resolve()) if args.src else None, False)]
    if args.baseline_src:
        sides.append(("baseline", OURS, str(Path(args.baseline_src).resolve()), False))
    if reference:
        sides.append(("reference", reference, None, True))
    if args.callgrind:
        callgrind(sides, args.repeats)
        return

    work = tempfile.mkdtemp(prefix="flyte-bench-per-run-")
    shutil.copy(HERE / "cold_start_task.py", work)
    cli = {name: str(Path(python).parent / "flyte") for name, python, _, _ in sides}

    def cold_run(name: str, python: str) -> list[str]:
        local = ["--local"] if name == "reference" else []  # the reference runs remotely by default
        return [cli[name], "run", *local, "cold_start_task.py", "trivial"]

    cases = {"import flyte": lambda name, python: [python, "-c", "import flyte"], "flyte run FILE TASK": cold_run}
    load = [os.getloadavg()[0]]
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name, python, src, is_ref in sides:  # warm-up: bytecode written, files cached
        env = {**_env(src, is_ref), "FLYTE_HOME": os.path.join(work, f"home-{name}")}
        for case in cases.values():
            _timed_child(case(name, python), work, env)
    for r in range(args.repeats):
        order = sides[r % len(sides) :] + sides[: r % len(sides)]
        for name, python, src, is_ref in order:
            env = _env(src, is_ref)
            figures.setdefault(("a trivial flyte.run, ms per run", name), []).append(
                _trivial_runs(python, env, args.runs)
            )
            env = {**env, "FLYTE_HOME": os.path.join(work, f"home-{name}")}
            for label, case in cases.items():
                wall, cpu = _timed_child(case(name, python), work, env)
                figures.setdefault((f"{label}, ms", name), []).append((wall * 1e3, cpu * 1e3))
        load.append(os.getloadavg()[0])
    shutil.rmtree(work, ignore_errors=True)

    print(f"medians of {args.repeats}; load (1-min average) {min(load):.1f}-{max(load):.1f}; wall [cpu]")
    labels = dict.fromkeys(label for label, _ in figures)
    header = ["measure", *(name for name, *_ in sides)]
    if reference:
        header.append("ours / reference")
    if args.baseline_src:
        header.append("ours / baseline")
    print(" | ".join(header))
    for label in labels:
        cells, medians = [label], {}
        for name, *_ in sides:
            samples = figures[(label, name)]
            wall, cpu = statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)
            medians[name] = (wall, cpu)
            cells.append(f"{wall:.3f} [{cpu:.3f}]")
        for other in ("reference", "baseline"):
            if other in medians:
                (w, c), (ow, oc) = medians["ours"], medians[other]
                cells.append(f"{w / ow:.2f} [{c / oc:.2f}]")
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
