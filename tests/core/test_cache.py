"""The result cache: key composition, behaviours, canonical hashing across processes,
serialize=True across processes, crash safety, damaged files, and the CLI."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import flyte
import flyte.errors
from flyte._cache import CachePolicy
from flyte._cache.key import cache_key
from flyte._cache.store import CacheStore, CacheWarning, digest, get_store
from flyte.cli.main import build_cli
from waiting import wait_for


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


@pytest.fixture(autouse=True)
def no_batch_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Held entries are committed when a test says (a flush, a full batch, the exit), not also
    once they are BATCH_SECONDS old: which of the two committed them would depend on the
    machine's speed. (The timer's own test runs in a process of its own.)"""
    from flyte._cache import store as store_module

    monkeypatch.setattr(store_module, "BATCH_SECONDS", 3600.0)


calls: list[str] = []


def _count(name: str) -> None:
    calls.append(name)


env = flyte.TaskEnvironment(name="cached", cache="auto")


@env.task
def double(x: int, note: str = "") -> int:
    _count("double")
    return 2 * x


@env.task(cache=flyte.Cache(behavior="auto", ignored_inputs=("note",)))
def ignores_note(x: int, note: str = "") -> int:
    _count("ignores_note")
    return x


def _cached_action(run) -> str:
    return run.actions()[0].cache


# -- key composition ------------------------------------------------------------------------------
def _key(task, **inputs) -> str:
    return cache_key(task.spec, task.func, task.bind((), inputs))


def test_each_component_of_the_key_changes_it_and_an_ignored_input_does_not():
    base = _key(double, x=1)
    assert _key(double, x=1) == base
    assert _key(double, x=2) != base  # inputs
    assert _key(double, x=1, note="n") != base  # every input counts by default
    assert _key(ignores_note, x=1, note="a") == _key(ignores_note, x=1, note="b")  # ignored_inputs
    other_env = flyte.TaskEnvironment(name="cached_elsewhere", cache="auto")
    renamed = other_env.task(double.func)
    assert _key(renamed, x=1) != base  # the task's fully-qualified name
    salted = double.override(cache=flyte.Cache(behavior="auto", salt="pepper"))
    assert _key(salted, x=1) != base  # salt
    v1 = double.override(cache=flyte.Cache(behavior="override", version_override="v1"))
    v2 = double.override(cache=flyte.Cache(behavior="override", version_override="v2"))
    assert len({_key(v1, x=1), _key(v2, x=1), base}) == 3  # the version

    def same_body(x: int, note: str = "") -> int:
        _count("double")
        return 2 * x

    def other_body(x: int, note: str = "") -> int:
        _count("double")
        return 3 * x

    def other_types(x: float, note: str = "") -> float:
        _count("double")
        return 2 * x

    probe = flyte.TaskEnvironment(name="cached_probe", cache="auto")
    a = probe.task(same_body)
    assert _key(probe.task(other_body), x=1) != _key(a, x=1)  # the code (FunctionBodyPolicy)
    assert _key(probe.task(other_types), x=1) != _key(a, x=1)  # the interface


def test_override_requires_a_version_and_ignored_inputs_must_exist():
    with pytest.raises(ValueError, match="version_override"):
        flyte.Cache(behavior="override")
    # checked when the task (here its override) is defined, naming the task and the input
    with pytest.raises(flyte.errors.ConfigurationError, match=r"task cached.double: cache.ignored_inputs names 'nope'"):
        double.override(cache=flyte.Cache(behavior="auto", ignored_inputs=("nope",)))


HASH_INPUTS = """
import dataclasses, enum
from datetime import UTC, datetime, timedelta
import attrs


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: float
    y: float


@attrs.frozen
class Box:
    items: tuple
    label: str


COMPLEX = {
    "s": "h\u00e9llo",
    "b": b"\\x00\\xff",
    "i": 2**70,
    "f": 0.1,
    "bool": True,
    "none": None,
    "list": [1, [2, 3]],
    "tuple": (1, "a"),
    "dict": {"b": 1, "a": 2},
    "set": {"x", "y", "z", "w"},
    "frozen": frozenset({3, 1, 2}),
    "dc": Point(1.0, 2.0),
    "attrs": Box((1, 2), "k"),
    "enum": Color.BLUE,
    "dt": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "td": timedelta(seconds=90),
    "nested": [{"p": Point(0, 0), "tags": {"b", "a"}}],
}
"""

HASH_SCRIPT = """
from flyte import _codec
from hash_inputs import COMPLEX
print(_codec.dumps(COMPLEX, canonical=True, path="input"))
"""


def test_canonical_hashing_is_stable_across_processes_and_hash_seeds(tmp_path, monkeypatch):
    from flyte import _codec

    (tmp_path / "hash_inputs.py").write_text(HASH_INPUTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    from hash_inputs import COMPLEX

    mine = _codec.dumps(COMPLEX, canonical=True, path="input")
    reordered = dict(reversed(list(COMPLEX.items())))
    reordered["dict"] = {"a": 2, "b": 1}
    assert _codec.dumps(reordered, canonical=True, path="input") == mine  # insertion order
    outputs = set()
    for seed in ("0", "12345", "random"):
        result = subprocess.run(
            [sys.executable, "-c", HASH_SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(tmp_path)},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout.strip())
    assert outputs == {mine}


def test_an_input_without_a_deterministic_encoding_is_a_clear_error():
    @env.task
    def takes_anything(thing: object) -> int:
        return 1

    with pytest.raises(flyte.errors.ConfigurationError, match=r"cannot compute a cache key.*thing.*object"):
        flyte.run(takes_anything, thing=object())


# -- behaviours through runs ----------------------------------------------------------------------
def test_auto_hits_on_the_second_call_and_records_hit_miss_written():
    calls.clear()
    first = flyte.run(double, x=21)
    second = flyte.run(double, x=21)
    assert first.outputs() == second.outputs() == 42
    assert calls == ["double"]
    assert _cached_action(first) == "written" and _cached_action(second) == "hit"


def test_disable_never_reads_or_writes():
    calls.clear()
    task = double.override(cache="disable")
    flyte.run(task, x=5)
    run = flyte.run(task, x=5)
    assert calls == ["double", "double"] and _cached_action(run) == "disabled"
    assert get_store().entries("cached.double") == []


def test_override_version_controls_reuse_and_salt_separates_entries():
    calls.clear()
    v1 = double.override(cache=flyte.Cache(behavior="override", version_override="v1"))
    flyte.run(v1, x=1)
    flyte.run(v1, x=1)
    assert calls == ["double"]
    flyte.run(double.override(cache=flyte.Cache(behavior="override", version_override="v2")), x=1)
    assert calls == ["double", "double"]
    flyte.run(double.override(cache=flyte.Cache(behavior="override", version_override="v2", salt="s")), x=1)
    assert calls == ["double"] * 3


class ReleasePolicy(CachePolicy):
    release = "2026.1"

    def get_version(self, salt: str, params) -> str:
        return f"{self.release}:{salt}"


def test_a_custom_policy_is_honoured():
    calls.clear()

    @env.task(cache=flyte.Cache(behavior="auto", policies=[ReleasePolicy()]))
    def released(x: int) -> int:
        _count("released")
        return x

    flyte.run(released, x=1)
    flyte.run(released, x=1)
    assert calls == ["released"]

    class NextRelease(ReleasePolicy):
        release = "2026.2"

    flyte.run(released.override(cache=flyte.Cache(behavior="auto", policies=[NextRelease()])), x=1)
    assert calls == ["released", "released"]


def test_overwrite_cache_recomputes_and_replaces():
    state = {"n": 0}

    @env.task
    def ticket() -> int:
        state["n"] += 1
        return state["n"]

    assert flyte.run(ticket).outputs() == 1
    assert flyte.run(ticket).outputs() == 1  # a hit
    assert flyte.with_runcontext(overwrite_cache=True).run(ticket).outputs() == 2
    assert flyte.run(ticket).outputs() == 2  # the replaced entry


def test_the_environment_variable_turns_the_cache_off(monkeypatch):
    calls.clear()
    monkeypatch.setenv("FLYTE_LOCAL_CACHE_ENABLED", "false")
    flyte.run(double, x=9)
    run = flyte.run(double, x=9)
    assert calls == ["double", "double"] and _cached_action(run) == "disabled"


def test_source_change_invalidates_auto(tmp_path):
    def load(body: str):
        path = tmp_path / "versioned_tasks.py"
        path.write_text(
            "import flyte\n"
            "env = flyte.TaskEnvironment(name='versioned', cache='auto')\n"
            "@env.task\n"
            f"def compute(x: int) -> int:\n    {body}\n"
        )
        import importlib.util

        spec = importlib.util.spec_from_file_location("versioned_tasks", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.compute

    first = load("return x + 1")
    assert flyte.run(first, x=1).outputs() == 2
    assert _cached_action(flyte.run(load("return x + 1"), x=1)) == "hit"
    # Comments and formatting are not the code: still a hit.
    assert _cached_action(flyte.run(load("return (x +   1)  # same"), x=1)) == "hit"
    changed = flyte.run(load("return x + 2"), x=1)
    assert changed.outputs() == 3 and _cached_action(changed) == "written"


def test_the_guides_three_levels():
    calls.clear()
    plain = flyte.TaskEnvironment(name="levels_env", cache="auto")

    @plain.task(cache="disable")
    def never(x: int) -> int:
        _count("never")
        return x

    flyte.run(never, x=1)
    flyte.run(never, x=1)
    assert calls == ["never", "never"]  # the task level beats the environment
    flyte.run(never.override(cache="auto"), x=1)
    flyte.run(never.override(cache="auto"), x=1)
    assert calls == ["never"] * 3  # override beats both


# -- serialize=True across processes ---------------------------------------------------------------
SERIAL_TASKS = """
import os, time
import flyte

env = flyte.TaskEnvironment(name="serial")


@env.task(cache=flyte.Cache(behavior="auto", serialize=True, ignored_inputs=("sleep",)))
def expensive(x: int, folder: str, sleep: float) -> str:
    with open(os.path.join(folder, f"exec-{os.getpid()}"), "w") as f:
        f.write(str(time.time()))
    time.sleep(sleep)
    return f"result-{x}"
"""

SERIAL_MAIN = """
import sys
import flyte
import serial_tasks
flyte.init()
print(flyte.run(serial_tasks.expensive, x=int(sys.argv[1]), folder=sys.argv[2], sleep=float(sys.argv[3])).outputs()[0])
"""


def _serial_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "serial_tasks.py").write_text(SERIAL_TASKS)
    (tmp_path / "serial_main.py").write_text(SERIAL_MAIN)
    (tmp_path / "execs").mkdir()
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


def test_eight_processes_on_one_key_run_the_task_once(tmp_path):
    env_vars = _serial_env(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "serial_main.py"), "7", str(tmp_path / "execs"), "1.5"],
            env=env_vars,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert {out.strip() for out, _ in outs} == {"result-7"}
    assert len(list((tmp_path / "execs").iterdir())) == 1


def test_a_waiter_takes_over_when_the_running_process_is_killed(tmp_path):
    env_vars = _serial_env(tmp_path)
    execs = tmp_path / "execs"
    holder = subprocess.Popen(
        [sys.executable, str(tmp_path / "serial_main.py"), "3", str(execs), "60"],
        env=env_vars,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(execs.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(execs.iterdir()), "the first process never started the task"
    waiter = subprocess.Popen(
        [sys.executable, str(tmp_path / "serial_main.py"), "3", str(execs), "0.1"],
        env=env_vars,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)  # the waiter is now waiting on the holder's reservation
    assert waiter.poll() is None and len(list(execs.iterdir())) == 1
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert out.strip() == "result-3"
    assert len(list(execs.iterdir())) == 2  # the killed one, and the waiter that took over


def test_when_the_running_call_fails_a_waiter_runs_it(tmp_path):
    attempts = {"n": 0}

    @env.task(cache=flyte.Cache(behavior="auto", serialize=True))
    async def flaky(x: int) -> int:
        import asyncio

        attempts["n"] += 1
        await asyncio.sleep(0.2)
        if attempts["n"] == 1:
            raise RuntimeError("first execution fails")
        return x

    @env.task
    async def fan_out() -> list[object]:
        import asyncio

        results = await asyncio.gather(*(flaky(5) for _ in range(4)), return_exceptions=True)
        return [r if isinstance(r, int) else type(r).__name__ for r in results]

    out = flyte.run(fan_out).outputs()[0]
    assert sorted(map(str, out)) == ["5", "5", "5", "RuntimeError"]
    assert attempts["n"] == 2


# -- crash safety -----------------------------------------------------------------------------------
WRITER = """
import sys
from pathlib import Path
from typing import Any
from flyte._cache.store import CacheStore
store = CacheStore(Path(sys.argv[1]))
round_ = int(sys.argv[2])
i = 0
while True:
    blob = ("%d:" % i) * 20000
    store.put(f"key-{round_}-{i % 7}", "crash.task", "v", '{"i": %d, "blob": "%s"}' % (i, blob))
    if i == 0:
        print("wrote", flush=True)  # the test kills it from now on, whatever the machine's speed
    i += 1
"""


def test_writers_killed_at_random_points_leave_no_partial_or_corrupt_entry(tmp_path):
    db = tmp_path / "cache.db"
    CacheStore(db).entries()  # create it
    rng = random.Random(7)
    for round_ in range(100):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(round_)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "wrote\n"  # into the writes (a condition, not a clock)
        time.sleep(rng.random() * 0.1)  # then a random point among the next writes
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT key, outputs, digest FROM entries").fetchall()
    assert len(rows) >= 100  # every writer got at least its first entry in
    for key, outputs, stored in rows:
        assert digest(outputs) == stored, key
        value = json.loads(outputs)
        assert value["blob"] == f"{value['i']}:" * 20000


def test_a_damaged_cache_file_warns_runs_without_it_and_flyte_cache_clear_removes_it():
    calls.clear()
    flyte.run(double, x=4)
    store = get_store()
    store.close()
    path = store.path
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    from flyte._cache.store import reset_store

    reset_store()  # a new process would open the damaged file afresh
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert flyte.run(double, x=4).outputs() == 8  # recomputed: never a wrong result
    assert calls == ["double", "double"]
    assert any(issubclass(w.category, CacheWarning) and "flyte cache clear" in str(w.message) for w in caught)
    result = CliRunner().invoke(build_cli(), ["cache", "clear"])
    assert result.exit_code == 0 and "removed the cache file" in result.output
    flyte.run(double, x=4)
    assert _cached_action(flyte.run(double, x=4)) == "hit"


def test_a_tampered_entry_is_a_miss_never_a_wrong_result():
    flyte.run(double, x=6)
    store = get_store()
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE entries SET outputs='999' WHERE task='cached.double'")
    run = flyte.run(double, x=6)
    assert run.outputs() == 12 and _cached_action(run) == "written"


def test_cache_cli_lists_and_clears_by_task():
    flyte.run(double, x=1)
    flyte.run(ignores_note, x=1)
    runner = CliRunner()
    listed = runner.invoke(build_cli(), ["cache", "list", "--task", "cached.double"])
    assert listed.exit_code == 0 and "cached.double" in listed.output and "ignores_note" not in listed.output
    cleared = runner.invoke(build_cli(), ["cache", "clear", "--task", "cached.double"])
    assert "deleted 1 cache entry of cached.double" in cleared.output
    assert get_store().entries("cached.double") == [] and len(get_store().entries()) == 1


def test_disable_run_cache_neither_reads_nor_writes():
    calls.clear()
    flyte.run(double, x=31)
    run = flyte.with_runcontext(disable_run_cache=True).run(double, x=31)
    assert calls == ["double", "double"] and _cached_action(run) == "disabled"
    with pytest.raises(TypeError, match="disable_run_cache"):
        flyte.with_runcontext(disable_run_cache="yes")


def test_a_key_is_the_hash_of_its_documented_parts_so_older_entries_stay_valid():
    import hashlib
    import json

    from flyte import _codec
    from flyte._cache.key import cache_key, cache_version, interface_hash

    keyed = flyte.TaskEnvironment(name="keyed", cache=flyte.Cache("auto", salt="s"))

    @keyed.task
    def f(a: int, b: str = "x") -> int:
        return a

    spec = f.spec
    for inputs in ({"a": 1, "b": "x"}, {"a": 2, "b": 'q"uo\u00e9te'}):
        encoded = _codec.dumps(inputs, canonical=True, path="input")
        parts = [spec.name, interface_hash(spec), cache_version(f.func, spec.cache, spec.image), "s", encoded]
        expected = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()
        assert cache_key(spec, f.func, inputs) == cache_key(spec, f.func, inputs) == expected


# -- entries kept in memory: exact while another process changes the cache --------------------------
CLEAR_SCRIPT = """
import sys
from flyte.cli.main import build_cli
build_cli()(["cache", "clear"], standalone_mode=False)
"""


def test_a_hit_recorded_once_has_the_whole_record():
    flyte.run(double, x=40)
    run = flyte.run(double, x=40)
    (hit,) = run.actions()
    assert (hit.phase, hit.cache, hit.outputs, hit.attempts) == ("SUCCEEDED", "hit", "80", 0)
    assert hit.started_at is not None and hit.ended_at is not None
    from flyte.runtime import store as st

    conn = sqlite3.connect(st.db_path())
    try:
        row = conn.execute(
            "SELECT inputs, cache_key, queued_at FROM actions WHERE run=? AND id=?", (run.name, hit.id)
        ).fetchone()
    finally:
        conn.close()
    assert row[0] == '{"x":40,"note":""}' and row[1] == _key(double, x=40) and row[2] is not None


def test_a_known_entry_costs_one_pragma_and_no_row_read():
    flyte.run(double, x=41)  # written by this process: known
    store = get_store()
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        assert store.get(_key(double, x=41)) == "82"
    finally:
        store._conn.set_trace_callback(None)
    assert statements == ["PRAGMA data_version"]


def test_flyte_cache_clear_in_another_process_is_seen_at_the_next_lookup():
    calls.clear()
    flyte.run(double, x=42)
    assert _cached_action(flyte.run(double, x=42)) == "hit"  # known in memory now
    subprocess.run([sys.executable, "-c", CLEAR_SCRIPT], check=True, capture_output=True, env=os.environ.copy())
    run = flyte.run(double, x=42)
    assert run.outputs() == 84 and _cached_action(run) == "written"
    assert calls == ["double", "double"]


def test_an_entry_replaced_or_deleted_by_another_connection_is_never_served_from_memory(tmp_path):
    mine, theirs = CacheStore(tmp_path / "cache.db"), CacheStore(tmp_path / "cache.db")
    try:
        mine.put("k", "t", "v", '"first"')
        assert mine.get("k") == '"first"'
        theirs.put("k", "t", "v", '"second"')  # another connection overwrites it (overwrite_cache)
        assert mine.get("k") == '"second"'
        theirs.clear("t")
        assert mine.get("k") is None
        theirs.put("k", "t", "v", '"third"')
        assert mine.get("k") == '"third"'
        conn = sqlite3.connect(tmp_path / "cache.db")  # tampered: the digest no longer matches
        with conn:
            conn.execute("UPDATE entries SET outputs='\"forged\"' WHERE key='k'")
        conn.close()
        assert mine.get("k") is None
    finally:
        mine.close()
        theirs.close()


def test_entries_kept_in_memory_are_bounded_and_lookups_stay_right(tmp_path, monkeypatch):
    from flyte._cache import store as cache_store

    monkeypatch.setattr(cache_store, "KNOWN_ENTRIES", 5)
    monkeypatch.setattr(cache_store, "KNOWN_CHARS", 40)
    store = CacheStore(tmp_path / "cache.db")
    try:
        for i in range(12):
            store.put_later(f"k{i}", "t", "v", f'"{i:04d}"')
        store.flush()
        assert len(store._known) == 5 and list(store._known) == [f"k{i}" for i in range(7, 12)]
        store.put("big", "t", "v", '"' + "x" * 38 + '"')  # 40 characters: the others go
        assert list(store._known) == ["big"]
        assert [store.get(f"k{i}") for i in range(12)] == [f'"{i:04d}"' for i in range(12)]  # read again
        assert store._known_chars == sum(len(v) for v in store._known.values()) <= 40
    finally:
        store.close()


def test_a_batched_write_drops_the_reservation_of_its_key(tmp_path):
    store = CacheStore(tmp_path / "cache.db")
    try:
        assert store.try_reserve("held", "someone") == (True, None)
        store.put_later("held", "t", "v", "1")
        store.put_later("free", "t", "v", "2")
        store.flush()
        conn = sqlite3.connect(tmp_path / "cache.db")
        try:
            assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
        finally:
            conn.close()
        assert store.try_reserve("held", "other") == (False, "1")  # a waiter finds the entry
    finally:
        store.close()


# -- one freshness check for the calls made before it (store.ticket) ---------------------------------
parents = flyte.TaskEnvironment(name="cache_parents", depends_on=[env])


@env.task
async def triple(x: int) -> int:
    _count("triple")
    return 3 * x


PUT_SCRIPT = """
import sys
from flyte._cache.store import get_store
get_store().put(sys.argv[1], "cached.triple", "v", sys.argv[2])
"""


def _elsewhere(script: str, *args: str) -> None:
    """``script`` run in another process on the same state root, to its end."""
    subprocess.run([sys.executable, "-c", script, *args], check=True, capture_output=True, env=os.environ.copy())


@parents.task
async def gather_triples(n: int) -> list[int]:
    return list(await asyncio.gather(*(triple(x=i) for i in range(n))))


@parents.task
async def clear_between(how: str) -> list[int]:
    """Two gathers of the same cached calls, the cache cleared between them with no await that
    reaches the event loop: by another process (``subprocess.run``), by this process's store on
    another thread, or by another connection of this process on another thread (or an entry
    overwritten in each of those ways)."""
    first = await asyncio.gather(triple(x=1), triple(x=2))
    if how == "process":
        _elsewhere(CLEAR_SCRIPT)
    elif how == "overwrite":
        _elsewhere(PUT_SCRIPT, _key(triple, x=1), "100")
    elif how in ("overwrite here", "overwrite by another handle"):  # on another thread
        key = _key(triple, x=1)
        if how == "overwrite here":
            put = lambda: get_store().put(key, "cached.triple", "v", "100")  # noqa: E731
        else:
            put = lambda: _other_handle_puts(key, "100")  # noqa: E731
        worker = threading.Thread(target=put)
        worker.start()
        worker.join()
    else:
        clear = get_store().clear if how == "this store" else lambda: _other_handle_clears()
        worker = threading.Thread(target=clear)
        worker.start()
        worker.join()
    second = await asyncio.gather(triple(x=1), triple(x=2))
    return [*first, *second]


def _other_handle_puts(key: str, outputs: str) -> None:
    other = CacheStore(get_store().path)
    try:
        other.put(key, "cached.triple", "v", outputs)
    finally:
        other.close()


def _other_handle_clears() -> None:
    other = CacheStore(get_store().path)
    try:
        other.clear()
    finally:
        other.close()


@parents.task
async def awaited_around_a_clear() -> list[int]:
    """Sequential awaits of a known entry, another process clearing it between them: an await
    of a hit never reaches the event loop, so both lookups run in one iteration of it."""
    first = await triple(x=5)
    _elsewhere(CLEAR_SCRIPT)
    return [first, await triple(x=5)]


def test_a_gather_of_known_entries_asks_sqlite_once():
    flyte.run(gather_triples, 50)  # written by this process: known
    store = get_store()
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        calls.clear()
        assert flyte.run(gather_triples, 50).outputs() == [3 * i for i in range(50)]
    finally:
        store._conn.set_trace_callback(None)
    assert calls == [] and statements == ["PRAGMA data_version"]


@pytest.mark.parametrize("how", ["process", "this store", "another handle"])
def test_a_clear_is_seen_by_every_call_made_after_it_within_one_loop_iteration(how):
    flyte.run(gather_triples, 3)
    calls.clear()
    run = flyte.run(clear_between, how)
    assert run.outputs() == [3, 6, 3, 6]
    assert calls == ["triple", "triple"]  # the second gather recomputed both
    caches = sorted(a.cache for a in run.actions() if a.task == "cached.triple")
    assert caches == ["hit", "hit", "written", "written"]


@pytest.mark.parametrize("how", ["overwrite", "overwrite here", "overwrite by another handle"])
def test_an_overwrite_by_another_process_or_thread_is_seen_by_the_next_call(how):
    flyte.run(gather_triples, 3)
    calls.clear()
    assert flyte.run(clear_between, how).outputs() == [3, 6, 100, 6]
    assert calls == []


def test_a_clear_between_two_awaited_hits_is_seen_by_the_second():
    flyte.run(triple, x=5)
    calls.clear()
    assert flyte.run(awaited_around_a_clear).outputs() == [15, 15]
    assert calls == ["triple"]


def test_a_lookup_answers_from_memory_only_for_calls_made_before_the_latest_check(tmp_path):
    from flyte._cache.store import ticket

    mine, theirs = CacheStore(tmp_path / "cache.db"), CacheStore(tmp_path / "cache.db")
    statements: list[str] = []
    try:
        mine.put("k", "t", "v", '"first"')
        early = ticket()  # a call made before the check below
        assert mine.get("k", ticket()) == '"first"'  # checks (PRAGMA)
        mine._conn.set_trace_callback(statements.append)
        assert mine.get("k", early) == '"first"' and statements == []  # the check came after it
        theirs.put("k", "t", "v", '"second"')
        assert mine.get("k", ticket()) == '"second"'  # made after the overwrite: checks, reads
        assert statements[0] == "PRAGMA data_version" and len(statements) == 2
        theirs.clear()
        assert mine.get("k", ticket()) is None
        mine.put("k", "t", "v", '"third"')
        late = ticket()
        assert mine.get("k", ticket()) == '"third"'
        statements.clear()
        assert mine.get("k", late) == '"third"' and statements == []
        mine.clear()  # this handle's own clear forgets what it knew, whatever the tickets
        assert mine.get("k", late) is None
    finally:
        mine._conn.set_trace_callback(None)
        mine.close()
        theirs.close()


@pytest.mark.parametrize(
    "inputs", [{"x": 3}, {"a": 1, "b": "é"}, {"b": 1, "a": 2}, {"x": 1.5}, {"x": [1, 2]}, {"x": None}, {"$t": 1}]
)
def test_a_key_hashing_the_record_encoding_is_the_key_computed_alone(inputs):
    spec, func = triple.spec, triple.func
    from flyte import _codec

    assert cache_key(spec, func, inputs, _codec.dumps(inputs)) == cache_key(spec, func, inputs)


def test_the_key_a_hit_records_is_the_key_of_its_inputs():
    flyte.run(gather_triples, 3)
    run = flyte.run(gather_triples, 3)
    from flyte.runtime import store as st

    conn = sqlite3.connect(st.db_path())
    try:
        rows = conn.execute(
            "SELECT inputs, cache, cache_key FROM actions WHERE run=? AND task=?", (run.name, "cached.triple")
        )
        keys = {json.loads(inputs)["x"]: (cache, key) for inputs, cache, key in rows}
    finally:
        conn.close()
    assert keys == {x: ("hit", _key(triple, x=x)) for x in range(3)}


# Keys pinned as main computed them before a key could hash the record's input encoding
# (git main at ff6240a): every stored entry is found by its key, so a different key for the
# same inputs must come with a new key_version, not silently.
pinned = flyte.TaskEnvironment(name="pinned_keys", cache=flyte.Cache(behavior="override", version_override="v1"))


@pinned.task
async def in_order(a: int, b: str, c: bool | None = None) -> str:
    return f"{a}{b}{c}"


@pinned.task
async def out_of_order(b: int, a: str) -> str:
    return f"{a}{b}"


@pinned.task
async def keyed_by_float(x: float) -> float:
    return x


@flyte.TaskEnvironment(name="pinned_callers", depends_on=[pinned]).task
async def calls_pinned() -> list[Any]:
    return list(
        await asyncio.gather(
            in_order(a=1, b="é"), in_order(a=2, b="x", c=True), out_of_order(b=3, a="y"), keyed_by_float(x=0.5)
        )
    )


PINNED_KEYS = {
    (
        "pinned_keys.in_order",
        '{"a":1,"b":"é","c":null}',
    ): "76c10ba91026949bc235d6cbef77a3c88a0816b508a5c62e350496c41e1fd243",
    (
        "pinned_keys.in_order",
        '{"a":2,"b":"x","c":true}',
    ): "59f16cb6cbc6fc5b04dc42e4b5ff6af1d31a1d081b69f47360ed64d68df0c2d2",
    ("pinned_keys.out_of_order", '{"b":3,"a":"y"}'): "9f0d01737645a9eb0e75b9259e075ce512529a302358b9488347dadd9eae19b1",
    ("pinned_keys.keyed_by_float", '{"x":0.5}'): "a67bffe97c09c67ae0e2540d87fb1bca555c2c99b89e2e411812367b48984ae4",
}


def test_the_keys_a_run_records_are_the_keys_of_before():
    from flyte.runtime import store as st

    for expected in ("written", "hit"):  # a miss and a hit key the same inputs the same way
        run = flyte.run(calls_pinned)
        assert run.outputs() == ["1éNone", "2xTrue", "y3", 0.5]
        conn = sqlite3.connect(st.db_path())
        try:
            rows = conn.execute(
                "SELECT task, inputs, cache_key, cache FROM actions WHERE run=? AND cache_key IS NOT NULL", (run.name,)
            ).fetchall()
        finally:
            conn.close()
        assert {(task, inputs): key for task, inputs, key, _ in rows} == PINNED_KEYS
        assert {cache for *_, cache in rows} == {expected}


# -- a task's keys in memory: misses answered without a read ------------------------------------------
def test_a_gather_of_misses_reads_the_tasks_keys_once_instead_of_each_row():
    from flyte._cache.store import MISSES_BEFORE_KEYS

    flyte.run(gather_triples, 5)  # the store's connection opened, x=0..4 written
    store = get_store()
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        calls.clear()
        run = flyte.run(gather_triples, 60)
        assert run.outputs() == [3 * i for i in range(60)]
    finally:
        store._conn.set_trace_callback(None)
    assert calls == ["triple"] * 55  # x=5..59 missed and ran; x=0..4 hit
    row_reads = [s for s in statements if s.startswith("SELECT outputs, digest FROM entries")]
    key_reads = [s for s in statements if s.startswith("SELECT key FROM entries")]
    # (the first run's 5 misses count towards the MISSES_BEFORE_KEYS that read the keys)
    assert len(row_reads) == MISSES_BEFORE_KEYS - 5 and len(key_reads) == 1  # 52 misses without one
    caches = sorted(a.cache for a in run.actions() if a.task == "cached.triple")
    assert caches == ["hit"] * 5 + ["written"] * 55
    calls.clear()
    assert flyte.run(gather_triples, 60).outputs() == [3 * i for i in range(60)] and calls == []


def test_a_miss_answered_from_the_keys_in_memory_is_exact(tmp_path):
    from flyte._cache.store import MISSES_BEFORE_KEYS, ticket

    mine, theirs = CacheStore(tmp_path / "cache.db"), CacheStore(tmp_path / "cache.db")
    statements: list[str] = []
    try:
        theirs.put("old", "t", "v", '"old"')
        for i in range(MISSES_BEFORE_KEYS):
            assert mine.get(f"m{i}", ticket(), "t") is None
        assert mine._keys == {"t": {"old"}}
        early = ticket()  # a call made before the check below
        assert mine.get("z", ticket(), "t") is None  # checks (PRAGMA), no row read
        mine._conn.set_trace_callback(statements.append)
        assert mine.get("m99", early, "t") is None and statements == []  # the check came after it
        assert mine.get("other task's", early, "u") is None and statements  # no keys of "u": reads
        theirs.put("k", "t", "v", '"theirs"')  # another connection writes one
        assert mine.get("k", ticket(), "t") == '"theirs"'  # made after it: checks, reads the row
        mine.put_later("own", "t", "v", '"own"')
        mine.flush()
        for _ in range(MISSES_BEFORE_KEYS):  # (the keys were dropped with theirs' commit)
            mine.get("nothing", ticket(), "t")
        assert {"old", "k", "own"} <= mine._keys["t"]
        mine._forget()  # (the known outputs only: the keys must answer "own" as present)
        mine._known.clear()
        assert mine.get("own", ticket(), "t") == '"own"'
        conn = sqlite3.connect(tmp_path / "cache.db")  # tampered: a key of the set, a bad digest
        with conn:
            conn.execute("UPDATE entries SET outputs='\"forged\"' WHERE key='old'")
        conn.close()
        assert mine.get("old", ticket(), "t") is None and "old" not in mine._keys.get("t", ())
        theirs.clear()
        assert mine.get("k", ticket(), "t") is None and mine.get("own", ticket(), "t") is None
    finally:
        mine._conn.set_trace_callback(None)
        mine.close()
        theirs.close()


def test_a_task_with_more_keys_than_are_kept_reads_each_miss(tmp_path, monkeypatch):
    from flyte._cache import store as cache_store

    monkeypatch.setattr(cache_store, "KEYS_MAX", 5)
    store = CacheStore(tmp_path / "cache.db")
    try:
        for i in range(6):
            store.put_later(f"k{i}", "t", "v", str(i))
        store.flush()
        store._known.clear()
        for i in range(20):
            assert store.get(f"m{i}", cache_store.ticket(), "t") is None
        assert "t" not in store._keys
        assert [store.get(f"k{i}", cache_store.ticket(), "t") for i in range(6)] == [str(i) for i in range(6)]
    finally:
        store.close()


@env.task
def failing_cached(x: int) -> int:
    raise ValueError(f"no {x}")


def test_a_cached_call_that_misses_is_recorded_running_then_written_or_failed():
    run = flyte.run(double, x=77)
    (action,) = run.actions()
    assert (action.phase, action.cache, action.attempts) == ("SUCCEEDED", "written", 1)
    assert action.started_at is not None and action.ended_at >= action.started_at
    with pytest.raises(Exception, match="no 3"):
        flyte.run(failing_cached, x=3)
    (last,) = flyte.remote.Run.listall(limit=1)
    (failed,) = last.actions()
    assert (failed.phase, failed.cache) == ("FAILED", "miss")


def test_an_entry_being_committed_is_still_answered(tmp_path, monkeypatch):
    """Between a flush taking its batch and committing it, a lookup (another thread's, here
    made from inside the flush) finds the entry: it was computed, so it is never recomputed."""
    from flyte._cache import store as store_module

    store = CacheStore(tmp_path / "cache.db")
    store.put_later("k1", "t", "v1", '"one"')
    seen = []
    real = store_module.digest

    def looking(text: str) -> str:  # the flush digests its rows before it commits them
        seen.append((store.get("k1", 0, "t"), store.get("k1", 0, "t", max_age=datetime.timedelta(hours=1))))
        return real(text)

    monkeypatch.setattr(store_module, "digest", looking)
    store.flush()
    monkeypatch.setattr(store_module, "digest", real)
    assert seen == [('"one"', '"one"')]
    assert store._flushing == {}  # nothing kept once committed
    fresh = CacheStore(tmp_path / "cache.db")  # another connection reads it from the database
    assert fresh.get("k1") == '"one"'


# -- the committer thread: batches committed beside the calls -----------------------------------------
def _held_commit(store: CacheStore, monkeypatch: Any) -> tuple[threading.Event, threading.Event]:
    """Make the store's next commit stop, holding the connection's lock as a commit's
    statement does, until ``release`` is set; ``started`` is set once it holds it."""
    started, release = threading.Event(), threading.Event()
    real = store._commit

    def held(pending: Any) -> None:
        with store._lock:
            started.set()
            release.wait(30)
        real(pending)

    monkeypatch.setattr(store, "_commit", held)
    return started, release


def test_a_full_batch_is_committed_by_the_committer_thread_while_calls_go_on(tmp_path, monkeypatch):
    from flyte._cache import store as store_module

    monkeypatch.setattr(store_module, "BATCH_ROWS", 4)
    store = CacheStore(tmp_path / "cache.db")
    other = CacheStore(tmp_path / "cache.db")  # another process's view
    started, release = _held_commit(store, monkeypatch)
    try:
        for i in range(4):  # the 4th makes the batch due: handed over, not committed here
            store.put_later(f"k{i}", "t", "v", str(i))
        assert started.wait(30)
        assert store._committer is not None and store._committer is not threading.current_thread()
        # While its commit holds the connection, calls still put entries and find every one.
        done = threading.Event()
        threading.Thread(target=lambda: (store.put_later("k4", "t", "v", "4"), done.set())).start()
        assert done.wait(10), "put_later waited for the committer's commit"
        assert [store.get(f"k{i}", 0, "t") for i in range(4)] == [str(i) for i in range(4)]  # being committed
        assert other.get("k0") is None
        release.set()
        wait_for(lambda: other.get("k3") == "3", what="the committer's batch in the database")
        assert other.get("k4") is None  # not due yet: the next batch, or the end of the run
        store.flush()
        assert other.get("k4") == "4"
    finally:
        release.set()
        store.close()
        other.close()
    wait_for(lambda: not store._committer.is_alive(), what="the committer thread's end at close")


def test_a_flush_waits_for_the_committers_batch_under_way(tmp_path, monkeypatch):
    """The end of a run flushes: once that returns, every entry the run put is in the database,
    including those the committer thread is still committing."""
    from flyte._cache import store as store_module

    monkeypatch.setattr(store_module, "BATCH_ROWS", 2)
    store = CacheStore(tmp_path / "cache.db")
    started, release = _held_commit(store, monkeypatch)
    try:
        store.put_later("a", "t", "v", "1")
        store.put_later("b", "t", "v", "2")  # due: the committer takes a and b
        assert started.wait(30)
        store.put_later("c", "t", "v", "3")
        flushed = threading.Event()
        threading.Thread(target=lambda: (store.flush(), flushed.set())).start()
        assert not flushed.wait(0.5)  # (it waits for the batch under way)
        release.set()
        assert flushed.wait(30)
        conn = sqlite3.connect(tmp_path / "cache.db")
        try:
            assert sorted(conn.execute("SELECT key, outputs FROM entries")) == [("a", "1"), ("b", "2"), ("c", "3")]
        finally:
            conn.close()
    finally:
        release.set()
        store.close()


def test_a_batch_the_committer_could_not_store_is_kept_for_the_next_flush(tmp_path, monkeypatch, caplog):
    from flyte._cache import store as store_module

    monkeypatch.setattr(store_module, "BATCH_ROWS", 2)
    store = CacheStore(tmp_path / "cache.db")
    real, failed = store._commit, threading.Event()

    def locked_once(pending: Any) -> None:
        if not failed.is_set():
            failed.set()
            raise flyte.errors.CacheError(f"local cache {store.path} stayed locked: database is locked")
        real(pending)

    monkeypatch.setattr(store, "_commit", locked_once)
    try:
        with caplog.at_level("WARNING", logger="flyte.cache"):
            store.put_later("a", "t", "v", "1")
            store.put_later("b", "t", "v", "2")
            assert failed.wait(30)
            wait_for(lambda: "kept and committed later" in caplog.text, what="the committer's warning")
        assert store.get("a", 0, "t") == "1" and store.get("b", 0, "t") == "2"  # still answered
        store.flush()
        other = CacheStore(tmp_path / "cache.db")
        try:
            assert (other.get("a"), other.get("b")) == ("1", "2")
        finally:
            other.close()
    finally:
        store.close()


# Holds the write lock of the cache file sys.argv[1] (BEGIN EXCLUSIVE) until its stdin is closed.
_LOCKER = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('BEGIN EXCLUSIVE')\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
    "c.execute('ROLLBACK')\n"
)


def _locker(path: Path) -> subprocess.Popen[str]:
    """Another process holding the cache file's write lock (``BEGIN EXCLUSIVE``) until its
    stdin is closed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def _stored_keys(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT key FROM entries")}
    finally:
        conn.close()


def test_a_cache_file_locked_past_the_busy_timeout_still_ends_the_run_and_keeps_its_entries(monkeypatch):
    """The end of a run commits its entries; when another process holds the file's write lock
    for longer than the busy timeout, the run still ends (recorded SUCCEEDED, its value
    returned) with one warning, and its entries are kept and committed by the next flush."""
    from flyte._cache import store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.2)
    flyte.run(double, x=1)  # the cache file exists, and this process's connection to it
    store = get_store()
    locker = _locker(store.path)
    try:
        with pytest.warns(CacheWarning, match="stayed locked.*kept"):
            run = flyte.run(double, x=2)
        assert run.phase == "SUCCEEDED" and run.outputs()[0] == 4
        (last,) = flyte.remote.Run.listall(limit=1)
        assert (last.name, last.phase) == (run.name, "SUCCEEDED")
        assert len(_stored_keys(store.path)) == 1  # (only x=1's: the lock is still held)
        calls.clear()
        with pytest.warns(CacheWarning, match="1 cache entry is kept"):  # (its flush tries again)
            assert flyte.run(double, x=2).actions()[0].cache == "hit"  # kept: answered in this process
        assert calls == []
    finally:
        locker.communicate("")
    flyte.run(double, x=3)  # the next run's flush commits what was kept
    assert len(_stored_keys(store.path)) == 3


_PUT_AND_EXIT = """
import sys
from flyte._cache import store
store.BUSY_TIMEOUT = 0.2
store.BATCH_SECONDS = 3600.0  # committed at the exit, not by the committer's timer
cache = store.get_store()
cache.put_later("k-exit", "t", "v", '"x"')
print(cache.path, flush=True)
"""


def test_entries_put_outside_any_run_are_committed_when_the_process_exits():
    done = subprocess.run([sys.executable, "-c", _PUT_AND_EXIT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _stored_keys(Path(done.stdout.strip())) == {"k-exit"}
    assert done.stderr == ""


def test_an_exit_while_another_process_holds_the_cache_file_says_what_was_not_stored():
    path = get_store().path
    assert get_store().get("none") is None  # (the file and its tables)
    locker = _locker(path)
    try:
        done = subprocess.run([sys.executable, "-c", _PUT_AND_EXIT], capture_output=True, text=True, timeout=120)
    finally:
        locker.communicate("")
    assert done.returncode == 0, done.stderr
    assert "stayed locked" in done.stderr and "1 cache entry of this process was not stored" in done.stderr
    assert _stored_keys(path) == set()


_EXIT_WHILE_THE_COMMITTER_COMMITS = """
from flyte._cache import store
store.BATCH_SECONDS = 0.0  # the committer takes the entry at once
cache = store.get_store()
cache.put_later("k-committing", "t", "v", '"x"')
while cache._pending:  # taken: its commit waits for the file's write lock
    pass
print("exiting", flush=True)
"""


def test_an_exit_while_the_committer_commits_a_batch_waits_for_it():
    """The committer is a daemon thread: an exit that did not wait for its batch under way
    would end it mid-transaction, and the batch's entries (no longer held) would be lost."""
    path = get_store().path
    assert get_store().get("none") is None  # (the file and its tables)
    locker = _locker(path)
    proc = subprocess.Popen(
        [sys.executable, "-c", _EXIT_WHILE_THE_COMMITTER_COMMITS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "exiting\n"
    finally:
        locker.communicate("")  # the committer's transaction can go on now
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert _stored_keys(path) == {"k-committing"}


_PUT_AFTER_A_ROOT_SWITCH = """
import os, sys
from flyte._cache import store
cache = store.get_store()
cache.put_later("k-before", "t", "v", '"x"')
os.environ["FLYTE_HOME"] = sys.argv[1]
store.get_store()  # another state root: the first one's handle is closed
cache.put_later("k-after", "t", "v", '"y"')  # by a run that still uses it
print(cache.path, flush=True)
"""


def test_an_entry_put_on_a_handle_closed_by_a_state_root_switch_is_stored(tmp_path):
    # Neither the committer (ended with the handle) nor the exit (which commits the current
    # root's handle) would commit it: it was held until the process ended, then lost.
    done = subprocess.run(
        [sys.executable, "-c", _PUT_AFTER_A_ROOT_SWITCH, str(tmp_path / "other-root")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _stored_keys(Path(done.stdout.strip())) == {"k-before", "k-after"}


_FORK_AND_EXIT = """
import os, sqlite3, sys
from flyte._cache import store
store.BATCH_SECONDS = 3600.0  # committed at the exit, not by the committer's timer
cache = store.get_store()
assert cache.get("none") is None  # (the file, and this process's connection to it)
cache.put_later("k-parent", "t", "v", '"x"')
child = os.fork()
if child == 0:
    sys.exit(0)  # its exit handlers run: the parent's held entry is not the child's to commit
os.waitpid(child, 0)
conn = sqlite3.connect(cache.path)
print(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0], cache.path, flush=True)
conn.close()
"""


_PUT_AND_STAY = """
import sys
from flyte._cache import store
cache = store.get_store()
cache.put_later("k-lone", "t", "v", '"x"')  # outside any run: no flush follows, nor another entry
print(cache.path, flush=True)
sys.stdin.read()  # alive, doing nothing, until the test is done
"""


def _committed(path: Path) -> set[str]:
    """The keys stored in the cache file at ``path``; none while it has no file or tables yet."""
    if not path.exists():
        return set()
    try:
        return _stored_keys(path)
    except sqlite3.OperationalError:  # (its tables are made with the first commit)
        return set()


def test_a_lone_entry_put_outside_any_run_reaches_other_processes_on_its_own():
    """The committer thread commits a batch once it is BATCH_SECONDS old without another entry,
    a flush or the exit to wake it: another process sees the entry while this one lives on."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _PUT_AND_STAY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        path = Path(proc.stdout.readline().strip())
        wait_for(lambda: _committed(path) == {"k-lone"}, timeout=30, what="the lone entry in the database")
        assert proc.poll() is None  # (committed while the process lives, not at its exit)
    finally:
        proc.communicate("", timeout=60)
    assert proc.returncode == 0


def test_a_forked_child_leaves_its_parents_held_entries_to_the_parent():
    """SQLite's connection must not be used across fork; the entries are the parent's, which
    commits them when it exits."""
    done = subprocess.run([sys.executable, "-c", _FORK_AND_EXIT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    count, path = done.stdout.split()
    assert count == "0"  # not written by the child
    assert _stored_keys(Path(path)) == {"k-parent"}  # by the parent, at its exit


_FORK_WHILE_COMMITTING = """
import os, signal, sqlite3, sys, threading
from flyte._cache import store
cache = store.get_store()
assert cache.get("none") is None  # (this process's connection is open)
holding, release = threading.Event(), threading.Event()

def commit_under_way() -> None:  # as the committer thread holds the connection for a batch
    with cache._lock:
        holding.set()
        release.wait(60)

threading.Thread(target=commit_under_way, daemon=True).start()
holding.wait(60)
child = os.fork()
if child == 0:
    signal.alarm(20)  # a child stuck on the parent's lock ends here, with SIGALRM
    mine = store.get_store()
    mine.put_later("k-child", "t", "v", '"c"')
    mine.flush()
    os._exit(0 if mine.get("k-child") == '"c"' else 1)
_, status = os.waitpid(child, 0)
release.set()
print(status, cache.path, flush=True)
"""


def test_a_forked_child_uses_a_cache_handle_of_its_own():
    """A child forked while a thread of its parent held the cache's connection (a batch being
    committed) does not wait forever on that lock, nor write through the parent's SQLite
    connection: it opens its own, as the run store does after a fork."""
    done = subprocess.run([sys.executable, "-c", _FORK_WHILE_COMMITTING], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status, path = done.stdout.split()
    assert status == "0", f"the child ended with wait status {status}"
    assert _stored_keys(Path(path)) == {"k-child"}


_SWITCH_ROOT_WHILE_LOCKED = """
import os, sqlite3, subprocess, sys, warnings
from flyte._cache import store
store.BUSY_TIMEOUT = 0.2
store.BATCH_SECONDS = 3600.0  # held until the state root moves, not committed by the timer
old = store.get_store()
old.put_later("k-old", "t", "v", '"o"')
locker = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(old.path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
assert locker.stdout.readline() == "held\\n"
os.environ["FLYTE_HOME"] = sys.argv[2]  # another state root (flyte.init(root_dir=...) does this)
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    new = store.get_store()
print(new.path != old.path, any("stayed locked" in str(w.message) for w in seen), flush=True)
new.put_later("k-new", "t", "v", '"n"')
locker.communicate("")  # the old root's file is free again before this process exits
print(old.path, new.path, flush=True)
"""


def test_moving_to_another_state_root_while_the_old_cache_file_is_locked(tmp_path):
    """The old root's handle is closed when the state root moves; its held entries cannot be
    committed while another process holds that file: a warning, the new root's handle all
    the same, and the entries committed to the OLD root when the process exits."""
    assert get_store().get("none") is None  # (the old root's file and tables)
    done = subprocess.run(
        [sys.executable, "-c", _SWITCH_ROOT_WHILE_LOCKED, _LOCKER, str(tmp_path / "other")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "True True"
    old_path, new_path = second.split()
    assert _stored_keys(Path(old_path)) == {"k-old"}
    assert _stored_keys(Path(new_path)) == {"k-new"}


def test_a_batch_of_several_statements_is_stored_whole(tmp_path, monkeypatch):
    """A batch larger than one INSERT takes (STATEMENT_ROWS, fewer where SQLite allows fewer
    variables) is stored by several statements of one transaction, none left out."""
    from flyte._cache import store as store_module

    monkeypatch.setattr(store_module, "STATEMENT_ROWS", 7)
    store = CacheStore(tmp_path / "cache.db")
    try:
        for i in range(100):
            store.put_later(f"k{i:03d}", "t", "v", str(i))
        store.flush()
        assert store._statement_rows == 7
        other = CacheStore(tmp_path / "cache.db")
        try:
            assert len(other.entries("t")) == 100
            assert [other.get(f"k{i:03d}") for i in (0, 6, 7, 99)] == ["0", "6", "7", "99"]
        finally:
            other.close()
    finally:
        store.close()


def test_batches_of_any_size_use_statements_of_a_few_sizes_only(tmp_path, monkeypatch):
    """Each batch is stored whole by INSERTs of at most STATEMENT_ROWS rows whose sizes are
    STATEMENT_ROWS or powers of two: a long-lived connection compiles each size once, where a
    statement of the batch's own size cost as much to compile as to run."""
    from flyte._cache import store as store_module

    sizes: list[int] = []
    real = store_module._insert_sql

    def counted(rows: int) -> str:
        sizes.append(rows)
        return real(rows)

    monkeypatch.setattr(store_module, "_insert_sql", counted)
    store = CacheStore(tmp_path / "cache.db")
    try:
        most = store_module.STATEMENT_ROWS
        written = 0
        for batch in (1, 3, 100, most - 1, most, most + 1, 3 * most + 77, 517):
            for i in range(batch):
                store.put_later(f"k{written + i:06d}", "t", "v", str(written + i))
            store.flush()
            written += batch
        allowed = {most} | {1 << b for b in range(most.bit_length()) if 1 << b < most}
        assert set(sizes) <= allowed, sorted(set(sizes) - allowed)
        assert sum(sizes) == written
        other = CacheStore(tmp_path / "cache.db")
        try:
            assert len(other.entries("t")) == written
            assert [other.get(f"k{i:06d}") for i in (0, 1, 4, written - 1)] == ["0", "1", "4", str(written - 1)]
        finally:
            other.close()
    finally:
        store.close()


def test_a_rewritten_entry_is_counted_once_in_memory(tmp_path):
    """An entry committed again under its key (e.g. overwrite_cache) replaces the one kept in
    memory: the count of kept characters follows the outputs kept, not every write."""
    store = CacheStore(tmp_path / "cache.db")
    try:
        store.put_later("k", "t", "v", "x" * 10)
        store.put_later("j", "t", "v", "y" * 3)
        store.flush()
        store.put_later("k", "t", "v", "z" * 4)
        store.flush()
        assert store.get("k") == "z" * 4 and store.get("j") == "y" * 3
        assert store._known_chars == sum(len(v) for v in store._known.values()) == 7
    finally:
        store.close()


def test_after_a_failed_commit_an_entry_is_answered_throughout_and_a_newer_one_wins(tmp_path, monkeypatch):
    store = CacheStore(tmp_path / "cache.db")
    real, calls = store._commit, []

    def locked_once(pending: Any) -> None:
        calls.append(dict(pending))
        if len(calls) == 1:
            raise flyte.errors.CacheError(f"local cache {store.path} stayed locked: database is locked")
        real(pending)

    monkeypatch.setattr(store, "_commit", locked_once)
    try:
        store.put_later("k", "t", "v", "old")
        with pytest.raises(flyte.errors.CacheError):
            store.flush()
        assert store._flushing["k"][2] == "old" and store._pending["k"][2] == "old"  # held in both
        store.put_later("k", "t", "v", "new")  # e.g. recomputed with overwrite_cache
        store.flush()
        assert store._flushing == {} and store.get("k") == "new"
        other = CacheStore(tmp_path / "cache.db")
        try:
            assert other.get("k") == "new"
        finally:
            other.close()
    finally:
        store.close()
