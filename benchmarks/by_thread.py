"""Instructions per task call (or per run), by thread: valgrind's callgrind, load-independent.

``python by_thread.py WORKLOAD [--n N] [--src PATH] [--cache-entries N]`` (WORKLOAD: gather,
sequential, cache_hit, cache_miss, trivial_run or sync_from_async) runs the workload of
:mod:`side_by_side` in a fresh process under callgrind once with one measured repeat and once
with three (each after a warm-up; a cache hit's cache filled first, a cache miss's repeats each
with keys of their own), and prints (I(3) - I(1)) / (2 N) for the whole process and for each of
its threads. ``--src``: the ``core/src`` of another tree (e.g. ``git archive main core/src | tar
-x -C /tmp/main``) to compare with. ``--cache-entries``: the cache holds that many entries (of
another task) before the warm-up, as a cache in long use does.

Why by thread: the run's own thread (the controller, the bodies, asyncio) does the same work
whatever the machine's load, where the caller's thread (the run page rewritten every second
while a run goes, the run's final flush) and the store's writer (its looks every 50 ms take
batches whose size follows the wall clock) do more or less of it as valgrind's ~50x slowdown
moves with the load: the whole-process figure of one tree moves by up to ~5% between two
measurements, the run thread's by well under 1%.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def child(workload: str, n: int, repeats: int) -> None:
    """The measured process: a warm-up, then ``repeats`` runs of the workload."""
    home = tempfile.mkdtemp(prefix="flyte-by-thread-")
    os.environ["FLYTE_HOME"] = home
    os.chdir(home)
    sys.path.insert(0, HERE)
    import side_by_side as sbs

    import flyte

    flyte.init()
    entries = int(os.environ.get("FLYTE_BENCH_CACHE_ENTRIES", "0"))
    if entries:  # a cache that already holds this many entries (of another task)
        import sqlite3

        from flyte._cache.store import SCHEMA, digest, get_store

        # Written here with SQL, not through the store: its threads then do only the measured
        # work. Keys are hashes, spread over the key's index as real ones are.
        with sqlite3.connect(get_store().path) as conn:
            conn.executescript(SCHEMA)
            conn.executemany(
                "INSERT INTO entries (key, task, version, created_at, outputs, digest) VALUES (?, ?, ?, ?, ?, ?)",
                ((digest(f"other {i}"), "bench_other.task", "v", 0.0, str(i), digest(str(i))) for i in range(entries)),
            )
        conn.close()
    if workload == "trivial_run":
        for _ in range(20):
            flyte.run(sbs.trivial)
        for _ in range(repeats * n):
            flyte.run(sbs.trivial)
        return
    if workload == "cache_miss":  # every repeat's keys are new: each call misses and writes
        flyte.run(sbs.cached_parent, n, start=-n)  # the warm-up (and the cache file made)
        for r in range(repeats):
            flyte.run(sbs.cached_parent, n, start=r * n)
        return
    parent = {
        "gather": sbs.gather_parent,
        "sequential": sbs.sequential_parent,
        "cache_hit": sbs.cached_parent,
        "sync_from_async": sbs.sync_from_async_parent,  # plain calls of a sync task from async code
    }
    for _ in range(repeats + 1):  # the first run warms up (and fills the cache for the hits)
        flyte.run(parent[workload], n)


def instructions(workload: str, n: int, repeats: int, src: str | None, dump: str | None = None) -> dict[str, int]:
    """Callgrind's total of each thread of one measured process (``t1`` is the main thread);
    ``dump``: a folder to keep callgrind's files in (``callgrind.out.<repeats>-<thread>``)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src:
        env["PYTHONPATH"] = src
    with tempfile.TemporaryDirectory(prefix="flyte-by-thread-cg-") as tmp:
        out = os.path.join(dump or tmp, f"callgrind.out.{repeats}")
        subprocess.run(
            [
                *("valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}"),
                *(sys.executable, __file__, "--child", workload, str(n), str(repeats)),
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        counts = {}
        for path in glob.glob(out + "*"):
            with open(path) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        counts[f"t{int(path.rsplit('-', 1)[-1])}"] = int(line.split()[1])
                        break
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workloads = ["gather", "sequential", "cache_hit", "cache_miss", "trivial_run", "sync_from_async"]
    parser.add_argument("workload", nargs="?", choices=workloads)
    parser.add_argument("--n", type=int, help="children per run (default 2,000), or runs per repeat (default 50)")
    parser.add_argument("--src", help="the core/src of the tree to measure (default: the installed one)")
    parser.add_argument("--dump", help="keep callgrind's files in this folder (for callgrind_annotate)")
    parser.add_argument(
        "--cache-entries", type=int, default=0, help="entries the cache holds before the measured runs (default 0)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), int(args.child[2]))
    if args.workload is None:
        parser.error("name a workload")
    n = args.n or (50 if args.workload == "trivial_run" else 2000)
    os.environ["FLYTE_BENCH_CACHE_ENTRIES"] = str(args.cache_entries)  # (read by the measured process)
    one, three = (instructions(args.workload, n, r, args.src, args.dump) for r in (1, 3))
    per = {
        t: (three.get(t, 0) - one.get(t, 0)) / (2 * n) for t in sorted(set(one) | set(three), key=lambda t: int(t[1:]))
    }
    unit = "run" if args.workload == "trivial_run" else "call"
    by_thread = ", ".join(f"{t} {v / 1000:.1f}k" for t, v in per.items())
    print(f"{args.workload}: {sum(per.values()) / 1000:.1f}k instructions per {unit} ({by_thread})")


if __name__ == "__main__":
    main()
