"""What storing cache entries costs the calls' thread, as the cache grows.

``python benchmarks/cache_writes.py [--rounds 16] [--per-round 4096] [--src PATH]``

Each round stores ``--per-round`` new entries (keys are hashes, as real keys are) through the
store a run uses (``put_later``: batched; ``flush`` at the round's end, as at a run's end) and
prints, per entry: the CPU of the thread that stored them (``time.thread_time``), the CPU of the
whole process (every thread: the store's committer thread included), and the wall time until
the round's flush returned. ``--src``: the ``core/src`` of another tree to compare with (e.g.
``git archive REV core/src | tar -x -C /tmp/rev``). Measured medians, not asserted anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time


def measure(rounds: int, per_round: int) -> None:
    os.environ["FLYTE_HOME"] = tempfile.mkdtemp(prefix="flyte-cache-writes-")
    from flyte._cache.store import get_store

    store = get_store()
    print(f"{'entries before':>14} {'calls thread µs':>16} {'all threads µs':>15} {'wall µs':>8}")
    for r in range(rounds):
        keys = [hashlib.sha256(f"{r} {i}".encode()).hexdigest() for i in range(per_round)]
        thread, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
        for key in keys:
            store.put_later(key, "bench.task", "v", "12345")
        store.flush()
        thread, cpu = time.thread_time() - thread, time.process_time() - cpu
        wall = time.perf_counter() - wall
        per = 1e6 / per_round
        print(f"{r * per_round:>14,} {thread * per:>16.1f} {cpu * per:>15.1f} {wall * per:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--per-round", type=int, default=4096)
    parser.add_argument("--src", help="the core/src of the tree to measure (default: the installed one)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or not args.src:
        measure(args.rounds, args.per_round)
        return
    env = {**os.environ, "PYTHONPATH": args.src}
    command = [sys.executable, __file__, "--child", "--rounds", str(args.rounds), "--per-round", str(args.per_round)]
    subprocess.run(command, check=True, env=env)


if __name__ == "__main__":
    main()
