"""The floor profile: what one child task call costs, piece by piece, against bare asyncio.

``python benchmarks/floor.py [--n 2000] [--repeats 7] [--callgrind] [--only NAME ...]``

For the gather and sequential-await paths, a cache hit and a cache miss, it prints per child:

- the floor no runtime can go below: a bare ``async def`` child run as an asyncio task
  (``asyncio.gather``) or awaited directly;
- our whole child call, measured the same way inside a running task;
- each piece of our per-child work measured on its own, with the real objects of a running
  action: binding and type checks, the inputs' and outputs' encoding for the record, the
  action record (created RUNNING, then SUCCEEDED, written by the run store's writer), the
  context a body runs in, the cache key and lookup;
- the rest: the controller's bookkeeping (its coroutine layers, the ``Action`` and the
  control flow between the pieces), our whole call minus the floor minus the pieces.

A cache miss is measured against our own uncached child (the same call without the cache:
no runtime can make a miss cheaper than the call it has to make), and its pieces are the
cache's: the key, the lookup that finds nothing, and the entry's write.

Every figure is measured inside one running task (``flyte.run(probe, ...)``), so the run's own
start and end are not in it. By default CPU seconds (``time.process_time``: every thread,
so the writer's commits count; the store is flushed inside each measurement), the median of
``--repeats``. With ``--callgrind`` each piece runs in its own process under
``valgrind --tool=callgrind`` and the figure is instructions per child, (I(N) - I(0)) / N,
which does not move with the machine's load. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable

os.environ.setdefault("FLYTE_HOME", tempfile.mkdtemp(prefix="flyte-floor-"))

import flyte
from flyte import _codec
from flyte._cache.key import cache_key, key_version
from flyte._cache.store import (
    BATCH_ROWS,
    PAGE_CACHE_KIB,
    SCHEMA,
    STATEMENT_ROWS,
    CacheStore,
    _chunks,
    _insert_sql,
    digest,
    get_store,
    ticket,
)
from flyte._context import BodyContext, current_body, current_caller
from flyte._sqlite import use_wal
from flyte.io._transport import might_hold_data
from flyte.runtime import environ, logs
from flyte.runtime import store as st
from flyte.runtime.controller import Action

cached_env = flyte.TaskEnvironment(name="floor_cached", cache="auto")
env = flyte.TaskEnvironment(name="floor", depends_on=[cached_env])


@env.task
async def child(i: int) -> int:
    return i


@cached_env.task
async def cached_child(i: int) -> int:
    return i


async def bare_child(i: int) -> int:
    return i


# -- the pieces: each does n children's worth of one kind of work ---------------------------
# Each takes (the running probe action, n, a start for fresh inputs) and is awaited.
Piece = Callable[[Action, int, int], Awaitable[float | None]]


async def floor_gather(action: Action, n: int, start: int) -> None:
    await asyncio.gather(*(bare_child(i) for i in range(start, start + n)))


async def floor_sequential(action: Action, n: int, start: int) -> None:
    for i in range(start, start + n):
        await bare_child(i)


async def ours_gather(action: Action, n: int, start: int) -> None:
    await asyncio.gather(*(child(i) for i in range(start, start + n)))
    action.controller.store.flush()


async def ours_sequential(action: Action, n: int, start: int) -> None:
    for i in range(start, start + n):
        await child(i)
    action.controller.store.flush()


async def ours_cache_hit(action: Action, n: int, start: int) -> None:
    # The entries were written by the warm-up (the same inputs, start=0 each time).
    await asyncio.gather(*(cached_child(i) for i in range(n)))
    action.controller.store.flush()


async def ours_cache_miss(action: Action, n: int, start: int) -> None:
    """Children whose inputs were never seen (``start`` is fresh per measurement), their
    entries committed inside the measurement."""
    await asyncio.gather(*(cached_child(i) for i in range(MISSES + start, MISSES + start + n)))
    action.controller.store.flush()
    get_store().flush()


MISSES = 10**9  # the inputs of ours_cache_miss: far from every other piece's
# The pieces that compute keys before their measured work (keys_only is subtracted).
KEYED = ("lookup", "lookup_checked", "lookup_cold", "lookup_miss", "cache_write")


async def bind(action: Action, n: int, start: int) -> None:
    for i in range(start, start + n):
        child.bind((i,), {})


async def encode(action: Action, n: int, start: int) -> None:
    """The inputs and the outputs as the record previews them (and their size check)."""
    ctl, spec = action.controller, child.spec
    for i in range(start, start + n):
        st.preview(ctl._encode("inputs", spec, {"i": i}))
        st.preview(ctl._encode("outputs", spec, i))


async def check_output(action: Action, n: int, start: int) -> None:
    for i in range(start, start + n):
        child.check_output(i)


def _record(action: Action, store: st.RunStore, n: int) -> None:
    ctl, spec = action.controller, child.spec
    run = ctl.run_name
    for _ in range(n):
        aid = ctl.new_action_id()
        now = time.time()
        store.create_action(  # created RUNNING: it starts at once (Controller.run_action)
            run,
            aid,
            parent=action.id,
            task=spec.name,
            short_name=spec.short_name,
            status=st.RUNNING,
            queued_at=now,
            started_at=now,
            attempts=1,
            inputs='{"i":1}',
            cache="disabled",
        )
        # As Controller._finish records a first attempt's success (no None: see store._grouped).
        store.update_action(run, aid, status=st.SUCCEEDED, attempts=1, ended_at=time.time(), outputs="1")


async def record(action: Action, n: int, start: int) -> None:
    """The action's record as the controller writes it: created RUNNING, then SUCCEEDED,
    committed by the store's writer (flushed here, so its thread's work is counted)."""
    _record(action, action.controller.store, n)
    action.controller.store.flush()


def _unwritten() -> st.RunStore:
    """The run store's in-memory side alone (no writer thread, no database): the record's
    changes without their write."""
    store = object.__new__(st.RunStore)
    store._lock = threading.Lock()
    store._actions = st._Pending()
    store._idle = False  # never wakes a writer
    return store


def _hit_record(action: Action, store: st.RunStore, n: int) -> None:
    ctl, spec = action.controller, cached_child.spec
    run = ctl.run_name
    for _ in range(n):
        now = time.time()
        store.create_action(
            run,
            ctl.new_action_id(),
            parent=action.id,
            task=spec.name,
            short_name=spec.short_name,
            status=st.SUCCEEDED,
            queued_at=now,
            started_at=now,
            ended_at=now,
            inputs='{"i":1}',
            outputs="1",
            cache="hit",
            cache_key="0" * 64,  # no grp: the controller passes none outside a group
        )


async def hit_record(action: Action, n: int, start: int) -> None:
    """A hit's record as the controller writes it: made once (succeeded, a hit), committed by
    the store's writer."""
    _hit_record(action, action.controller.store, n)
    action.controller.store.flush()


async def hit_record_changes(action: Action, n: int, start: int) -> None:
    """A hit's record in memory, without the writer's work."""
    _hit_record(action, _unwritten(), n)


async def record_changes(action: Action, n: int, start: int) -> None:
    """The record's two changes in memory, without the writer's work (``record`` minus this
    is the write: the rows' INSERT by the writer thread)."""
    _record(action, _unwritten(), n)


async def body_context(action: Action, n: int, start: int) -> None:
    """The context a body runs in: one context variable (the caller, which is also the running
    action, the task-context data, its environment overlay and its attempt's log) set and reset."""
    values: dict[str, str] = {}
    for _ in range(n):
        current_body.reset(current_body.set(BodyContext(action, {}, environ.overlay(values), None)))


async def data_checks(action: Action, n: int, start: int) -> None:
    """The checks for dataframes and files among the inputs (2) and the output (2), as the
    controller makes them: a task whose annotations admit only scalars (``child``) skips the
    search, anything else searches its values (nothing found here, nothing awaited)."""
    for i in range(start, start + n):
        inputs = {"i": i}
        checks = child.type_checks
        not checks.scalar_inputs and might_hold_data(inputs), not checks.scalar_inputs and might_hold_data(inputs)
        not checks.scalar_output and might_hold_data(i), not checks.scalar_output and might_hold_data(i)


async def attempt_log(action: Action, n: int, start: int) -> None:
    """The attempt's log: made, made current for the body, closed unwritten."""
    for _ in range(n):
        log = logs.AttemptLog(action.controller.run_name, action.id, 1)
        current_body.reset(current_body.set(current_body.get().but(log=log)))
        log.close()


async def key(action: Action, n: int, start: int) -> None:
    """The key as a call computes it: hashing the record's encoding of its inputs (canonical
    too for one input), which the call has made already (here: an f-string)."""
    spec, func = cached_child.spec, cached_child.func
    for i in range(n):
        cache_key(spec, func, {"i": i}, f'{{"i":{i}}}')


async def lookup(action: Action, n: int, start: int) -> None:
    """Entries this process wrote (as a hit of the same run or a later one finds them), looked
    up by calls all made before the first lookup, as in a gather: known in memory, the first
    lookup checks with one ``PRAGMA data_version``, the others reuse its answer (store.ticket)."""
    spec, func, cache = cached_child.spec, cached_child.func, get_store()
    keys = [cache_key(spec, func, {"i": i}) for i in range(n)]
    made = ticket()  # the calls' tickets: one is enough, they are all older than the check
    for k in keys:
        cache.get(k, made)


async def lookup_checked(action: Action, n: int, start: int) -> None:
    """The same entries looked up by calls each made just before its lookup (awaited one by
    one): each checks with one ``PRAGMA data_version``."""
    spec, func, cache = cached_child.spec, cached_child.func, get_store()
    keys = [cache_key(spec, func, {"i": i}) for i in range(n)]
    for k in keys:
        cache.get(k, ticket())


async def lookup_cold(action: Action, n: int, start: int) -> None:
    """The same entries through a fresh handle (as a new process finds them): each read as a
    row, its digest checked."""
    spec, func = cached_child.spec, cached_child.func
    keys = [cache_key(spec, func, {"i": i}) for i in range(n)]
    cache = CacheStore(get_store().path)
    try:
        for k in keys:
            cache.get(k)
    finally:
        cache.close()


async def lookup_miss(action: Action, n: int, start: int) -> None:
    """Lookups that find nothing (a miss: one row read)."""
    spec, func, cache = cached_child.spec, cached_child.func, get_store()
    keys = [cache_key(spec, func, {"i": i}) for i in range(-start - n, -start)]
    for k in keys:
        cache.get(k)


async def decode(action: Action, n: int, start: int) -> None:
    """A hit's outputs decoded."""
    for i in range(start, start + n):
        _codec.loads(str(i))


async def cache_write(action: Action, n: int, start: int) -> None:
    """A miss's entry: queued with its version, then committed in one batch (its digest, the
    row), as the end of a run commits them."""
    spec, func, cache = cached_child.spec, cached_child.func, get_store()
    keys = [cache_key(spec, func, {"i": i}) for i in range(-start - n, -start)]
    for k in keys:
        cache.put_later(k, spec.name, key_version(spec, func), "1")
    cache.flush()


_bare: sqlite3.Connection | None = None


async def sqlite_row(action: Action, n: int, start: int) -> float:
    """The entry's row with no code of ours: the rows ``cache_write`` commits (key, task,
    version, time, outputs, digest), made beforehand, inserted as the store inserts them (in key
    order, a transaction per :data:`~flyte._cache.store.BATCH_ROWS`) into a database of the cache's own
    schema and settings (WAL, ``synchronous=NORMAL``), which grows across the repeats as the
    cache does. What SQLite alone costs a miss, on whichever thread runs it.
    Returns the CPU seconds spent making the rows (left out of the sample: see probe)."""
    global _bare
    if _bare is None:
        path = os.path.join(tempfile.mkdtemp(prefix="flyte-floor-bare-"), "cache.db")
        _bare = sqlite3.connect(path, isolation_level=None)
        use_wal(_bare)
        _bare.execute("PRAGMA synchronous=NORMAL")
        _bare.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        _bare.executescript(SCHEMA)
    spec, func = cached_child.spec, cached_child.func
    version, outputs = key_version(spec, func), "1"
    at, check = time.time(), digest(outputs)
    cpu = time.process_time()
    keys = [cache_key(spec, func, {"i": i}) for i in range(-start - n, -start)]
    rows = [(k, spec.name, version, at, outputs, check) for k in keys]
    setup = time.process_time() - cpu
    for first in range(0, n, BATCH_ROWS):
        batch = sorted(rows[first : first + BATCH_ROWS])
        _bare.execute("BEGIN IMMEDIATE")
        one = 0
        for size in _chunks(len(batch), STATEMENT_ROWS):  # (the store's statement sizes)
            _bare.execute(_insert_sql(size), list(itertools.chain.from_iterable(batch[one : one + size])))
            one += size
        _bare.execute("COMMIT")
    return setup


async def keys_only(action: Action, n: int, start: int) -> None:
    """What ``lookup`` spends before its lookups (subtracted from it)."""
    spec, func = cached_child.spec, cached_child.func
    [cache_key(spec, func, {"i": i}) for i in range(n)]


PIECES: dict[str, Piece] = {
    "floor_gather": floor_gather,
    "floor_sequential": floor_sequential,
    "ours_gather": ours_gather,
    "ours_sequential": ours_sequential,
    "ours_cache_hit": ours_cache_hit,
    "bind": bind,
    "encode": encode,
    "check_output": check_output,
    "record": record,
    "record_changes": record_changes,
    "hit_record": hit_record,
    "hit_record_changes": hit_record_changes,
    "body_context": body_context,
    "data_checks": data_checks,
    "attempt_log": attempt_log,
    "ours_cache_miss": ours_cache_miss,
    "key": key,
    "lookup": lookup,
    "lookup_checked": lookup_checked,
    "lookup_cold": lookup_cold,
    "lookup_miss": lookup_miss,
    "decode": decode,
    "cache_write": cache_write,
    "keys_only": keys_only,
    "sqlite_row": sqlite_row,
}

# Which pieces each path is made of (the cache hit: no body, no attempt, no output check; a
# miss: an uncached call and the cache's own pieces).
RECORD = ("record_changes", "record_write")
SHARED = ("bind", "encode", "check_output", *RECORD, "body_context", "attempt_log", "data_checks")
PATHS = {
    "gather": ("floor_gather", "ours_gather", SHARED),
    "sequential": ("floor_sequential", "ours_sequential", SHARED),
    "cache_hit": (
        "floor_gather",
        "ours_cache_hit",
        ("bind", "encode", "hit_record_changes", "hit_record_write", "key", "lookup", "decode"),
    ),
    "cache_miss": ("ours_gather", "ours_cache_miss", ("key", "lookup_miss", "cache_write")),
}
FLOORS = {
    "floor_gather": "floor: bare asyncio child (gather)",
    "floor_sequential": "floor: bare asyncio child (sequential)",
    "ours_gather": "floor: our uncached child (gather)",
}
LABELS = {
    "bind": "binding and type checks (task.bind)",
    "encode": "inputs/outputs encoded for the record",
    "check_output": "output type check",
    "record_changes": "the action record: its 2 changes in memory",
    "record_write": "the action record: its write (writer thread, SQLite)",
    "hit_record_changes": "a hit's record: its one change in memory",
    "hit_record_write": "a hit's record: its write (writer thread, SQLite)",
    "body_context": "the body's context (one context variable)",
    "attempt_log": "the attempt's log (made, current, closed)",
    "data_checks": "dataframe/file checks (4: skipped, scalar annotations)",
    "key": "cache key",
    "lookup": "cache lookup, known entry (gathered: one PRAGMA)",
    "lookup_checked": "cache lookup, known entry (awaited: a PRAGMA each)",
    "lookup_cold": "cache lookup by a fresh handle (row read, digest)",
    "lookup_miss": "cache lookup that finds nothing (row read)",
    "decode": "the hit's outputs decoded",
    "cache_write": "the entry's write (queued, digest, batched row)",
    "sqlite_row": "(of which SQLite alone: the row, no code of ours)",
}


@env.task
async def probe(name: str, n: int, repeats: int, fill: int) -> list[float]:
    """CPU seconds of ``repeats`` runs of the piece ``name`` for ``n`` children; the cache
    pieces first store ``fill`` entries (committed, as a later run would find them)."""
    action = current_caller()
    assert action is not None
    piece = PIECES[name]
    if name in ("ours_cache_hit", "lookup", "lookup_checked", "lookup_cold", "keys_only"):
        await ours_cache_hit(action, fill, 0)
        get_store().flush()
    await piece(action, 50, 0)  # warm-up
    samples = []
    for r in range(repeats):
        cpu = time.process_time()
        setup = await piece(action, n, (r + 1) * n)  # a piece may return CPU of its own setup
        samples.append(time.process_time() - cpu - (setup or 0.0))
    return samples


def cpu_profile(n: int, repeats: int, names: list[str]) -> dict[str, float]:
    """µs of CPU per child, the median over ``repeats``."""
    flyte.init()
    out = {}
    for name in names:
        samples = flyte.run(probe, name, n, repeats, n).outputs()[0]
        out[name] = statistics.median(samples) / n * 1e6
    return _derived(out)


def _derived(out: dict[str, float]) -> dict[str, float]:
    """Pieces measured as differences: the lookups and writes alone, the records' writes alone."""
    for name in KEYED:
        if name in out and "keys_only" in out:
            out[name] -= out["keys_only"]
    if "record" in out and "record_changes" in out:
        out["record_write"] = out["record"] - out["record_changes"]
    if "hit_record" in out and "hit_record_changes" in out:
        out["hit_record_write"] = out["hit_record"] - out["hit_record_changes"]
    return out


def callgrind_profile(n: int, names: list[str]) -> dict[str, float]:
    """Instructions per child: (I(n) - I(0)) / n, each piece in a process of its own."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="flyte-floor-cg-") as tmp:
        for name in names:
            counts = []
            for size in (0, n):
                outfile = os.path.join(tmp, f"{name}.{size}.out")
                subprocess.run(
                    [
                        "valgrind",
                        "--tool=callgrind",
                        f"--callgrind-out-file={outfile}",
                        sys.executable,
                        __file__,
                        "--child",
                        name,
                        str(size),
                        str(n),
                    ],
                    check=True,
                    capture_output=True,
                    # A state root of its own: the cache pieces must not find the other run's entries.
                    env={**os.environ, "PYTHONHASHSEED": "0", "FLYTE_HOME": tempfile.mkdtemp(dir=tmp)},
                )
                counts.append(_instructions(outfile))
            out[name] = (counts[1] - counts[0]) / n
    return _derived(out)


def _instructions(outfile: str) -> int:
    with open(outfile) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(re.split(r"\s+", line.strip())[1])
    raise RuntimeError(f"no instruction total in {outfile}")


def report(figures: dict[str, float], unit: str) -> None:
    """One table per path: the floor, our call, each piece, and the rest."""
    for path, (floor, ours, parts) in PATHS.items():
        if floor not in figures or ours not in figures:
            continue
        total, base = figures[ours], figures[floor]
        print(f"\n{path}: per child ({unit})")
        print(f"  {'our whole child call':<52} {total:>10.1f}")
        print(f"  {FLOORS[floor]:<52} {base:>10.1f}  {base / total:6.1%}")
        rest = total - base
        for part in parts:
            if part in figures:
                print(f"  {LABELS[part]:<52} {figures[part]:>10.1f}  {figures[part] / total:6.1%}")
                rest -= figures[part]
        print(f"  {'the rest: controller bookkeeping, coroutine layers':<52} {rest:>10.1f}  {rest / total:6.1%}")
        if "lookup_checked" in figures and "lookup" in parts:
            checked = figures["lookup_checked"]
            print(f"  {'(calls awaited one by one: each checks)':<52} {checked:>10.1f}")
        if "lookup_cold" in figures and "lookup" in parts:
            cold = figures["lookup_cold"]
            print(f"  {'(a new process looks up: row read, digest checked)':<52} {cold:>10.1f}")
        if "sqlite_row" in figures and "cache_write" in parts:
            row = figures["sqlite_row"]
            print(f"  {LABELS['sqlite_row']:<52} {row:>10.1f}  {row / total:6.1%}")
            # No miss can cost less than the call it makes plus the row SQLite writes for it.
            floor = base + row
            print(f"  {'a miss at its floor: uncached child + that row':<52} {floor:>10.1f}  {floor / total:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="children per measurement")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--callgrind", action="store_true", help="instruction counts (slow, load-independent)")
    parser.add_argument("--only", nargs="*", choices=sorted(PIECES), help="measure only these pieces")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object too")
    parser.add_argument("--child", nargs=3, metavar=("PIECE", "N", "FILL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one piece, once, in this process (under valgrind)
        flyte.init()
        flyte.run(probe, args.child[0], int(args.child[1]), 1, int(args.child[2]))
        return
    names = args.only or list(PIECES)
    if any(name in KEYED for name in names) and "keys_only" not in names:
        names.append("keys_only")
    if "record" in names and "record_changes" not in names:
        names.append("record_changes")
    if "hit_record" in names and "hit_record_changes" not in names:
        names.append("hit_record_changes")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"load average: {load}; N={args.n:,}; python {sys.version.split()[0]}")
    if args.callgrind:
        figures, unit = callgrind_profile(args.n, names), "instructions"
    else:
        figures, unit = cpu_profile(args.n, args.repeats, names), f"µs CPU, median of {args.repeats}"
    report(figures, unit)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
