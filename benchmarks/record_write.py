"""The action record alone, without a run: its changes in memory and its row write, per child.

``python benchmarks/record_write.py [--n 2000] [--callgrind]``

Makes the records the controller makes for ``n`` plain children (created RUNNING, then
SUCCEEDED), on a run store without a writer thread, and writes them as the writer does
(``RunStore._commit`` in batches of 500 rows, about what it takes per 50 ms at this rate).
Nothing runs on a clock here (no run, no page, no writer polling), so under ``--callgrind``
the instructions per child, (I(n) - I(0)) / n, repeat to a few instructions: floor.py's
``record`` piece measures the same inside a run, where the run's own clocked work adds noise.
Without ``--callgrind``: CPU µs per child, the median of 7.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("FLYTE_HOME", tempfile.mkdtemp(prefix="flyte-record-"))

from flyte.runtime import store as st

RUN = "rabcdefghi"  # a run name's length
BATCH = 500


def _unwritten() -> st.RunStore:
    """The run store's in-memory side alone (no writer thread, no database)."""
    store = object.__new__(st.RunStore)
    store._lock = threading.Lock()
    store._actions = st._Pending()
    store._idle = False  # never wakes a writer
    return store


def changes(store: st.RunStore, ids: list[str]) -> None:
    """A plain child's record as Controller.run_action and Controller._finish make it."""
    for aid in ids:
        now = time.time()
        store.create_action(
            RUN,
            aid,
            parent="a0",
            task="record.child",
            short_name="child",
            status=st.RUNNING,
            queued_at=now,
            started_at=now,
            attempts=1,
            inputs='{"i":1}',
            cache="disabled",
        )
        store.update_action(RUN, aid, status=st.SUCCEEDED, attempts=1, ended_at=time.time(), outputs="1")


def write(store: st.RunStore) -> None:
    """What the writer thread does with the records: one transaction per batch."""
    conn = st.connect(st.db_path())
    try:
        items = list(store._actions.new[RUN].items())
        for start in range(0, len(items), BATCH):
            batch = st._Pending()
            batch.new[RUN] = dict(items[start : start + BATCH])
            batch.count = len(batch.new[RUN])
            st.RunStore._commit(conn, batch, [])
    finally:
        conn.close()


def once(piece: str, n: int) -> None:
    store = _unwritten()
    ids = [st.action_id(i) for i in range(1, n + 1)]
    changes(store, ids)
    if piece == "write":
        write(store)


def cpu(n: int) -> dict[str, float]:
    out: dict[str, list[float]] = {"changes": [], "write": []}
    for r in range(7):
        store = _unwritten()
        ids = [st.action_id(i) for i in range(r * n + 1, (r + 1) * n + 1)]
        started = time.process_time()
        changes(store, ids)
        made = time.process_time()
        write(store)
        out["changes"].append(made - started)
        out["write"].append(time.process_time() - made)
    return {name: statistics.median(samples) / n * 1e6 for name, samples in out.items()}


def callgrind(n: int) -> dict[str, float]:
    counts: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory(prefix="flyte-record-cg-") as tmp:
        for piece in ("changes", "write"):
            for size in (0, n):
                outfile = os.path.join(tmp, f"{piece}.{size}.out")
                valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}"]
                subprocess.run(
                    [*valgrind, sys.executable, __file__, "--child", piece, str(size)],
                    check=True,
                    capture_output=True,
                    env={**os.environ, "PYTHONHASHSEED": "0", "FLYTE_HOME": tempfile.mkdtemp(dir=tmp)},
                )
                with open(outfile) as f:
                    total = next(line for line in f if line.startswith(("summary:", "totals:")))
                counts[piece, size] = int(re.split(r"\s+", total.strip())[1])
    made = (counts["changes", n] - counts["changes", 0]) / n
    both = (counts["write", n] - counts["write", 0]) / n
    return {"changes": made, "write": both - made}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="children")
    parser.add_argument("--callgrind", action="store_true", help="instructions per child (valgrind)")
    parser.add_argument("--child", nargs=2, metavar=("PIECE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one piece, once, in this process (under valgrind)
        once(args.child[0], int(args.child[1]))
        return
    figures, unit = (callgrind(args.n), "instructions") if args.callgrind else (cpu(args.n), "µs CPU, median of 7")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"load average: {load}; N={args.n:,}; per child ({unit})")
    print(f"  the record's 2 changes in memory  {figures['changes']:10.1f}")
    print(f"  its row write (RunStore._commit)  {figures['write']:10.1f}")


if __name__ == "__main__":
    main()
