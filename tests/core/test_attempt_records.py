"""Per-attempt records: outcomes, tracebacks (user frames first, secrets masked), workers,
truthful durations, the schema step for older stores, and a killed run's end."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import flyte
from flyte.remote import Run
from flyte.runtime import store as st
from flyte.runtime.attempts import attempts_of

env = flyte.TaskEnvironment(name="records")


@env.task(retries=flyte.RetryStrategy(count=2, backoff=flyte.retry.Backoff(base=0.2, factor=2, cap=1)))
def flaky_shard(i: int) -> int:
    print(f"writing shard {i}")
    raise RuntimeError(f"disk full while writing shard {i}")


@env.task
def writes_all() -> int:
    return flaky_shard(1)


def attempts(run: str, action: str) -> list[sqlite3.Row]:
    with st.reader() as conn:
        return conn.execute(
            "SELECT * FROM attempts WHERE run=? AND action=? ORDER BY attempt", (run, action)
        ).fetchall()


def action_row(run: str, action: str) -> sqlite3.Row:
    with st.reader() as conn:
        return conn.execute("SELECT * FROM actions WHERE run=? AND id=?", (run, action)).fetchone()


def failed_run(task, *args) -> str:
    flyte.init()
    with pytest.raises(RuntimeError):
        flyte.with_runcontext(name="rfailed").run(task, *args)
    return "rfailed"


def test_every_attempt_is_recorded_with_its_traceback_user_frames_first():
    run = failed_run(writes_all)
    rows = attempts(run, "a1")
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert {r["outcome"] for r in rows} == {"FAILED"}
    for row in rows:
        assert row["error_type"] == "RuntimeError"
        assert row["message"] == "disk full while writing shard 1"
        assert row["ended_at"] >= row["started_at"]
        assert f"pid {os.getpid()}" in row["worker"]
        trace = row["traceback"]
        user, full = trace.split("\nFull traceback:\n")
        # the user's frame is shown first, the runtime's frames only in the full traceback
        assert "in flaky_shard" in user and "controller.py" not in user
        assert "controller.py" in full and "in flaky_shard" in full
        assert user.rstrip().endswith("RuntimeError: disk full while writing shard 1")
        assert row["log_path"] and Path(row["log_path"]).read_text() == "writing shard 1\n"
    parent = attempts(run, "a0")
    assert len(parent) == 1 and "in writes_all" in parent[0]["traceback"]


def test_an_actions_duration_spans_its_attempts_and_backoffs():
    run = failed_run(writes_all)
    rows = attempts(run, "a1")
    action = action_row(run, "a1")
    assert action["attempts"] == 3
    assert action["started_at"] == rows[0]["started_at"]  # not the last attempt's start
    assert action["ended_at"] >= rows[-1]["ended_at"]
    recorded = Run.get(run).actions()[1]
    # the backoffs (0.2 s, then 0.4 s) lie between the attempts, inside the action's time
    assert recorded.duration >= sum(r["ended_at"] - r["started_at"] for r in rows) + 0.6


@env.task
def succeeds(x: int) -> int:
    return x * 2


def test_a_successful_attempt_and_the_cache_key_are_recorded():
    cached = flyte.TaskEnvironment(name="records_cached", cache="auto")

    @cached.task
    def doubled(x: int) -> int:
        return x * 2

    flyte.init()
    first = flyte.run(doubled, 4)
    second = flyte.run(doubled, 4)
    assert attempts(first.name, "a0") == []  # a first attempt that succeeded here is the action's row
    with st.reader() as conn:
        (row,) = attempts_of(conn, first.name, "a0")
    action = action_row(first.name, "a0")
    assert row["outcome"] == "SUCCEEDED" and row["traceback"] is None and row["log_path"] is None
    assert (row["started_at"], row["ended_at"]) == (action["started_at"], action["ended_at"])
    assert row["worker"] == f"local process ({socket.gethostname()} pid {os.getpid()})"
    key = action_row(first.name, "a0")["cache_key"]
    assert key and action_row(second.name, "a0")["cache_key"] == key
    assert action_row(second.name, "a0")["cache"] == "hit"
    with st.reader() as conn:
        assert attempts_of(conn, second.name, "a0") == []  # a cache hit runs no attempt


def test_secret_values_are_masked_in_tracebacks_errors_and_logs():
    from flyte.runtime import secret_store

    flyte.init()
    secret_store.create("records-token", b"s3cr3t-value-42")
    secret_env = flyte.TaskEnvironment(
        name="records_secret", secrets=flyte.Secret(key="records-token", as_env_var="TOKEN")
    )

    @secret_env.task
    def leaks() -> None:
        token = os.environ["TOKEN"]
        print(f"connecting with {token}")
        raise PermissionError(f"token {token} was refused")

    with pytest.raises(PermissionError):
        flyte.with_runcontext(name="rsecret").run(leaks)
    (row,) = attempts("rsecret", "a0")
    recorded = " ".join(str(v) for v in (*tuple(row), *tuple(action_row("rsecret", "a0")), Run.get("rsecret").error))
    assert "s3cr3t-value-42" not in recorded
    assert "token *** was refused" in row["message"]
    log = Path(row["log_path"]).read_text()
    assert log == "connecting with ***\n"
    page = Path(st.db_path().parent / "pages" / "rsecret.html").read_text()
    assert "s3cr3t-value-42" not in page


def test_an_older_store_gains_the_new_tables_and_columns(flyte_home):
    old = sqlite3.connect(flyte_home / "runs.db")
    old.executescript(
        """
        CREATE TABLE runs (name TEXT PRIMARY KEY, task TEXT NOT NULL, status TEXT NOT NULL,
            created_at REAL NOT NULL, ended_at REAL, host TEXT, pid INTEGER, pid_start TEXT,
            inputs TEXT, outputs TEXT, error TEXT, report TEXT);
        CREATE TABLE actions (run TEXT NOT NULL, id TEXT NOT NULL, parent TEXT, task TEXT NOT NULL,
            short_name TEXT, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, cache TEXT,
            queued_at REAL, started_at REAL, ended_at REAL, error TEXT, inputs TEXT, outputs TEXT,
            report TEXT, PRIMARY KEY (run, id));
        INSERT INTO runs (name, task, status, created_at, ended_at) VALUES ('rold', 'm.t', 'SUCCEEDED', 1, 2);
        """
    )
    old.close()
    flyte.init()
    run = flyte.run(succeeds, 3)
    with st.reader() as conn:
        assert {r[1] for r in conn.execute("PRAGMA table_info(actions)")} >= {"cache_key", "grp"}
        assert {r[1] for r in conn.execute("PRAGMA table_info(runs)")} >= {"last_seen", "trigger"}
        assert [a["outcome"] for a in attempts_of(conn, run.name, "a0")] == ["SUCCEEDED"]
        assert {r[1] for r in conn.execute("PRAGMA table_info(attempts)")} >= {"traceback", "worker", "log_path"}
    assert Run.get("rold").phase == "SUCCEEDED"  # what the older version recorded still reads


KILLED = textwrap.dedent(
    """
    import sys, time
    import flyte
    env = flyte.TaskEnvironment(name="killed")

    @env.task
    def forever() -> None:
        print("started", flush=True)
        while True:
            time.sleep(0.05)

    flyte.init()
    flyte.with_runcontext(name="rkilled").run(forever)
    """
)


def test_a_killed_run_ends_when_it_was_last_seen_alive(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=dict(os.environ))
    try:
        assert proc.stdout.readline() == b"started\n"
        deadline = time.monotonic() + 120
        while True:  # the heartbeat has been recorded at least once
            with st.reader() as conn:
                row = conn.execute("SELECT last_seen FROM runs WHERE name='rkilled'").fetchone()
            if row is not None and row[0] is not None:
                break
            assert time.monotonic() < deadline, "the run never recorded a heartbeat"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = time.time()
    time.sleep(0.3)  # noticing it later must not move its end
    run = Run.get("rkilled")
    assert run.phase == "ABORTED"
    with st.reader() as conn:
        last_seen = conn.execute("SELECT last_seen FROM runs WHERE name='rkilled'").fetchone()[0]
    # its last sign of life: the heartbeat (or an action's later event), not when it was noticed
    assert last_seen <= run.ended_at <= killed_at
    (action,) = run.actions()
    assert action.phase == "ABORTED" and action.ended_at == run.ended_at


@env.task
async def fails_at_the_bottom(n: int) -> int:
    if n == 0:
        raise ValueError("the bottom of the chain")
    return 1 + await fails_at_the_bottom(n - 1)


def test_an_error_passing_up_a_deep_chain_keeps_its_innermost_frames_at_every_level():
    # Each level records the same error, whose traceback grows with every level it passes:
    # a record keeps the innermost frames (where it was raised), not the whole chain.
    from flyte.runtime.attempts import MAX_FRAMES

    flyte.init()
    with pytest.raises(ValueError, match="the bottom of the chain"):
        flyte.with_runcontext(name="rdeepfail").run(fails_at_the_bottom, 60)
    (root,) = attempts("rdeepfail", "a0")
    user, full = root["traceback"].split("\nFull traceback:\n")
    assert "outer frames not shown" in full.splitlines()[0]
    assert full.count('  File "') == MAX_FRAMES
    assert 'raise ValueError("the bottom of the chain")' in user and user.endswith("the bottom of the chain\n")
    with st.reader() as conn:
        leaf = conn.execute(
            "SELECT traceback FROM attempts WHERE run='rdeepfail' AND traceback NOT LIKE '%outer frames%' "
            "AND traceback LIKE '%the bottom of the chain%'"
        ).fetchall()
    assert leaf  # the levels nearest the bottom are recorded whole
