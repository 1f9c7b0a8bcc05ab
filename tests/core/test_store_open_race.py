"""Many processes opening one new store at once (first runs of parallel jobs on a fresh
machine): every one of them gets a working store."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

from flyte._sqlite import use_wal

PROCESSES = 6
ROUNDS = 20


def _open(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        use_wal(conn)
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        results.put(mode)
    except Exception as exc:  # reported, not raised: the parent asserts on every outcome
        results.put(repr(exc))


def test_processes_opening_one_new_database_at_once_all_get_wal(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    outcomes = []
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"store-{round_}.db")
        barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(path, barrier, results)) for _ in range(PROCESSES)]
        for proc in procs:
            proc.start()
        outcomes += [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join()
    assert outcomes == ["wal"] * (PROCESSES * ROUNDS), [o for o in outcomes if o != "wal"][:3]
