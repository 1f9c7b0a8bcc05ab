"""`flyte runs show` of a very large run: `python benchmarks/runs_show.py [--actions N] [--repeats R]`.

Fills a temporary state root with one run of N actions (default 100,000; 1% failed, 2% retried,
the rest succeeded, each with an error text or output preview as a real run records them), then
times the command in a fresh process, which reports its own peak RSS (``VmHWM``, Linux). The
baseline beside each figure is the same command on a run of 100 actions: a command whose cost
does not grow with the run shows a ratio near 1. Figures are medians of ``--repeats`` runs.
Run by hand on a quiet machine; tests never assert times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

STATUSES = (("FAILED", 0.01), ("RETRYING", 0.0), ("SUCCEEDED", 0.99))


def fill(home: str, name: str, actions: int) -> None:
    """One finished run of ``actions`` actions, written straight into the run store."""
    os.environ["FLYTE_HOME"] = home
    from flyte.runtime import store as st

    conn = st.connect()
    now = time.time()
    conn.execute(
        "INSERT INTO runs (name, task, status, created_at, ended_at, host, pid, error) VALUES (?,?,?,?,?,?,?,?)",
        (name, "bench.main", st.FAILED, now, now + 60, "bench", 1, "ValueError: shard 17 failed"),
    )
    rows = []
    for i in range(actions):
        failed = i % 100 == 17
        retried = i % 50 == 3
        rows.append(
            (
                name,
                st.action_id(i),
                i,
                None if i == 0 else "a0",
                "bench.shard" if i else "bench.main",
                "shard" if i else "main",
                st.FAILED if failed else st.SUCCEEDED,
                3 if failed else (2 if retried else 1),
                "miss",
                now + i * 1e-4,
                now + i * 1e-4,
                now + i * 1e-4 + 0.01,
                f"ValueError: shard {i} failed: could not parse record {i * 7}" if failed else None,
                f'{{"i": {i}}}',
                str(i) if not failed else None,
            )
        )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO actions (run, id, number, parent, task, short_name, status, attempts, cache, queued_at,"
        " started_at, ended_at, error, inputs, outputs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


# The child reports its own peak RSS: ru_maxrss from wait4 would include the memory of the
# (forking) benchmark process itself, since Linux carries the high-water mark across exec.
CHILD = """
import atexit, sys

def peak():
    with open("/proc/self/status") as f:
        kib = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    sys.stderr.write(f"\\nflyte-bench-peak-kib {kib}\\n")

atexit.register(peak)
sys.argv = ["flyte", *sys.argv[1:]]
from flyte.cli.main import main
main()
"""


def measure(home: str, args: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, bytes printed) of one `flyte ...` in a fresh process."""
    env = {**os.environ, "FLYTE_HOME": home, "COLUMNS": "160"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=out, stderr=err, env=env)
        proc.wait()
        seconds = time.perf_counter() - start
        err.seek(0)
        messages = err.read().decode()
        if proc.returncode != 0:
            raise SystemExit(f"flyte {' '.join(args)} exited with {proc.returncode}: {messages}")
        size = out.tell()
    kib = int(messages.rsplit("flyte-bench-peak-kib", 1)[1].split()[0])
    return seconds, kib / 1024, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()

    home = tempfile.mkdtemp(prefix="flyte-bench-show-")
    fill(home, "big", opts.actions)
    fill(home, "small", 100)
    commands = [
        ("runs show", []),
        ("runs show --json", ["--json"]),
        ("runs show --status FAILED", ["--status", "FAILED"]),
        ("runs show --offset (last page)", ["--offset", str(opts.actions - 50)]),
        ("runs show --limit 0 (all)", ["--limit", "0"]),
        ("runs show --json --limit 0 (all)", ["--json", "--limit", "0"]),
    ]
    print(f"flyte runs show, a run of {opts.actions:,} actions (baseline: a run of 100), median of {opts.repeats}")
    print(f"{'command':34} {'seconds':>9} {'baseline':>9} {'ratio':>6} {'peak MiB':>9} {'baseline':>9} {'output':>10}")
    for label, extra in commands:
        big = [measure(home, ["runs", "show", "big", *extra]) for _ in range(opts.repeats)]
        small = [measure(home, ["runs", "show", "small", *extra]) for _ in range(opts.repeats)]
        sec, base = statistics.median(b[0] for b in big), statistics.median(s[0] for s in small)
        rss, base_rss = statistics.median(b[1] for b in big), statistics.median(s[1] for s in small)
        print(
            f"{label:34} {sec:9.2f} {base:9.2f} {sec / base:6.2f} {rss:9.1f} {base_rss:9.1f} {big[0][2]:>10,}",
            flush=True,
        )


if __name__ == "__main__":
    main()
