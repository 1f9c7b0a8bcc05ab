"""Logs per attempt: what a task prints (stdout, stderr, logging, its threads and child
processes) is kept under its run and still reaches the terminal; `flyte logs` prints it,
`flyte runs show NAME ACTION` shows the action in full."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.runtime import store as st
from flyte.runtime.attempts import attempts_of

env = flyte.TaskEnvironment(name="logged")
user_log = logging.getLogger("logged.user")


def log_of(run: str, action: str, attempt: int = 1) -> str:
    return (st.db_path().parent / "runs" / run / "logs" / f"{action}-{attempt}.log").read_text()


@env.task
def chatty(n: int) -> int:
    print(f"stdout line {n}")
    print(f"stderr line {n}", file=sys.stderr)
    user_log.warning("a logging record %d", n)
    worker = threading.Thread(target=lambda: print(f"from a thread {n}"))
    worker.start()
    worker.join()
    subprocess.run([sys.executable, "-c", f"print('from a child process {n}')"], check=True)
    assert os.system(f"echo from os.system {n}") == 0
    return n


def test_everything_a_task_prints_is_kept_per_attempt_and_still_reaches_the_terminal(capfd):
    handler = logging.StreamHandler()  # a handler made before the run writes to the terminal
    user_log.addHandler(handler)
    try:
        flyte.init()
        flyte.with_runcontext(name="rchatty").run(chatty, 7)
    finally:
        user_log.removeHandler(handler)
    log = log_of("rchatty", "a0")
    lines = ("stdout line 7", "stderr line 7", "a logging record 7", "from a thread 7", "from a child process 7")
    for line in (*lines, "from os.system 7"):
        assert f"{line}\n" in log
    out, err = capfd.readouterr()
    assert "stdout line 7" in out and "from a thread 7" in out and "from a child process 7" in out
    assert "from os.system 7" in out
    assert "stderr line 7" in err and "a logging record 7" in err


@env.task
async def speaker(name: str, turns: int) -> str:
    for i in range(turns):
        print(f"{name} says {i}")
        await asyncio.sleep(0.01)
    return name


@env.task
async def conversation() -> list[str]:
    return list(await asyncio.gather(speaker("ann", 5), speaker("bob", 5)))


HALVES = """
import sys, time
sys.stdout.write("half a line"); sys.stdout.flush()
time.sleep(0.3)
sys.stdout.write(" and its end\\n"); sys.stdout.flush()
sys.stdout.write("a prompt without a newline"); sys.stdout.flush()
"""


@env.task
def interleaved() -> None:
    child = subprocess.Popen([sys.executable, "-c", HALVES])
    time.sleep(0.15)  # while the child's line is half written
    print("the task's own line")
    child.wait()


def test_a_childs_line_written_in_pieces_stays_whole_in_the_log():
    flyte.init()
    flyte.with_runcontext(name="rhalves").run(interleaved)
    lines = log_of("rhalves", "a0").splitlines()
    assert "half a line and its end" in lines and "the task's own line" in lines
    assert lines[-1] == "a prompt without a newline"  # an unfinished last line is kept too


def test_tasks_running_at_once_each_keep_their_own_lines():
    flyte.init()
    flyte.with_runcontext(name="rtalk").run(conversation)
    assert log_of("rtalk", "a1") == "".join(f"ann says {i}\n" for i in range(5))
    assert log_of("rtalk", "a2") == "".join(f"bob says {i}\n" for i in range(5))
    assert not (st.db_path().parent / "runs" / "rtalk" / "logs" / "a0-1.log").exists()  # printed nothing


@env.task
def floods(lines: int) -> None:
    for i in range(lines):
        print(f"line {i:06d} " + "x" * 50)


def test_a_log_over_its_cap_is_truncated_with_a_note(monkeypatch):
    monkeypatch.setenv("FLYTE_LOG_MAX_BYTES", "4096")
    flyte.init()
    flyte.with_runcontext(name="rflood").run(floods, 2000)
    log = log_of("rflood", "a0")
    kept, note = log.rsplit("\n[flyte: log truncated: ", 1)
    assert len(kept) <= 4096 and kept.startswith("line 000000 ")
    assert "characters were dropped" in note and "FLYTE_LOG_MAX_BYTES=4,096" in note


def test_a_bad_log_cap_is_named(monkeypatch):
    from flyte.runtime.logs import max_bytes

    monkeypatch.setenv("FLYTE_LOG_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match=r"FLYTE_LOG_MAX_BYTES: 'lots' is not a size in bytes of at least 1024"):
        max_bytes()


@env.task(retries=1)
def fails_once_then_not(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("tried")
        print("first try")
        raise ConnectionError("flaky network")
    print("second try")
    return "ok"


def cli(*args: str):
    return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)


def test_flyte_logs_prints_each_attempt_under_a_header(tmp_path):
    flyte.init()
    flyte.with_runcontext(name="rretry").run(fails_once_then_not, str(tmp_path / "marker"))
    result = cli("logs", "rretry")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "── a0 logged.fails_once_then_not · attempt 1 ──\nfirst try\n"
        "── a0 logged.fails_once_then_not · attempt 2 ──\nsecond try\n"
    )
    one = cli("logs", "rretry", "a0", "--attempt", "2")
    assert one.output.endswith("second try\n") and "first try" not in one.output


def test_flyte_logs_names_what_it_cannot_find(tmp_path):
    flyte.init()
    flyte.with_runcontext(name="rquiet").run(chatty, 1)
    runner = CliRunner()
    for args, message in (
        (["logs", "rnothere"], "no run named 'rnothere'"),
        (["logs", "rquiet", "a9"], "run rquiet has no action 'a9'"),
        (
            ["logs", "rquiet", "a0", "--attempt", "3"],
            "action a0 of run rquiet has 1 attempt(s); --attempt 3 is not one",
        ),
        (["logs", "rquiet", "--attempt", "1"], "--attempt needs an ACTION"),
    ):
        result = runner.invoke(build_cli(), args)
        assert result.exit_code != 0
        assert message in result.output, result.output


FOLLOWED = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import flyte
    env = flyte.TaskEnvironment(name="followed")

    @env.task
    def slow(go: str) -> None:
        print("before the wait", flush=True)
        while not Path(go).exists():
            time.sleep(0.05)
        print("after the wait")

    flyte.init()
    flyte.with_runcontext(name="rfollow").run(slow, sys.argv[1])
    """
)


def test_flyte_logs_follow_prints_lines_as_they_come_until_the_run_ends(tmp_path):
    script = tmp_path / "followed.py"
    script.write_text(FOLLOWED)
    go = tmp_path / "go"
    run = subprocess.Popen([sys.executable, str(script), str(go)], env=dict(os.environ), stdout=subprocess.DEVNULL)
    try:
        log = st.db_path().parent / "runs" / "rfollow" / "logs" / "a0-1.log"
        deadline = time.monotonic() + 120
        while not (log.exists() and "before the wait" in log.read_text()):
            assert time.monotonic() < deadline and run.poll() is None, "the run never printed"
            time.sleep(0.05)
        follow = subprocess.Popen(
            [sys.executable, "-m", "flyte.cli.main", "logs", "rfollow", "--follow"],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout.readline() == "── a0 followed.slow · attempt 1 ──\n"
        assert follow.stdout.readline() == "before the wait\n"
        go.write_text("go")
        assert follow.stdout.readline() == "after the wait\n"
        assert follow.wait(timeout=120) == 0  # it stops by itself once the run has ended
        assert run.wait(timeout=120) == 0
    finally:
        run.kill()


def test_runs_show_action_has_attempts_tracebacks_inputs_and_logs(tmp_path):
    flyte.init()
    flyte.with_runcontext(name="rshow").run(fails_once_then_not, str(tmp_path / "marker"))
    text = cli("runs", "show", "rshow", "a0")
    assert text.exit_code == 0, text.output
    out = text.output
    assert out.startswith("action a0 of run rshow · logged.fails_once_then_not · SUCCEEDED · 2 attempt(s)")
    assert "attempt 1: FAILED" in out and "attempt 2: SUCCEEDED" in out
    assert 'in fails_once_then_not\n      raise ConnectionError("flaky network")' in out
    assert "ConnectionError: flaky network" in out
    assert f'inputs: {{"marker":"{tmp_path / "marker"}"}}' in out
    assert 'outputs: "ok"' in out
    assert "logs: flyte logs rshow a0" in out
    data = json.loads(cli("runs", "show", "rshow", "a0", "--json").output)
    assert data["phase"] == "SUCCEEDED" and data["attempts"] == 2
    first, second = data["attempt_records"]
    assert first["outcome"] == "FAILED" and first["error_type"] == "ConnectionError"
    assert "flaky network" in first["traceback"] and Path(first["log"]).read_text() == "first try\n"
    assert second["outcome"] == "SUCCEEDED" and second["traceback"] is None
    assert data["duration"] >= first["duration"] + second["duration"]
    missing = CliRunner().invoke(build_cli(), ["runs", "show", "rshow", "a5"])
    assert missing.exit_code != 0 and "run rshow has no action 'a5'" in missing.output


@env.task
def starts_a_server() -> int:
    child = subprocess.Popen([sys.executable, "-c", "import time; print('serving', flush=True); time.sleep(600)"])
    return child.pid


def test_a_child_that_outlives_its_attempt_does_not_hold_it_up():
    import signal

    flyte.init()
    pid = flyte.with_runcontext(name="rserver").run(starts_a_server).outputs()[0]
    try:
        assert flyte.remote.Run.get("rserver").phase == "SUCCEEDED"  # not waiting for the child
    finally:
        os.kill(pid, signal.SIGKILL)


def test_capture_can_be_turned_off(monkeypatch, capfd):
    monkeypatch.setenv("FLYTE_LOG_CAPTURE", "0")
    flyte.init()
    flyte.with_runcontext(name="rnolog").run(chatty, 3)
    assert not (st.db_path().parent / "runs" / "rnolog" / "logs").exists()
    assert "stdout line 3" in capfd.readouterr().out  # the terminal still gets it
    monkeypatch.setenv("FLYTE_LOG_CAPTURE", "sometimes")
    with pytest.raises(ValueError, match=r"FLYTE_LOG_CAPTURE: 'sometimes' is not a switch \(accepted: 1/0"):
        flyte.run(chatty, 3)
    assert [r.name for r in flyte.remote.Run.listall(limit=5)] == ["rnolog"]  # the bad switch started no run


FAILING = textwrap.dedent(
    """
    import flyte
    env = flyte.TaskEnvironment(name="failing")

    @env.task
    def write_shard(shard: int) -> None:
        print(f"writing shard {shard}")
        raise RuntimeError(f"disk full while writing shard {shard}")

    @env.task
    def main() -> None:
        write_shard(1)
    """
)


def test_a_failed_flyte_run_says_where_the_traceback_and_logs_are(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    env_vars = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "run", "--name", "rcli", str(script), "main"],
        capture_output=True,
        text=True,
        env=env_vars,
    )
    assert done.returncode == 1
    assert "Error: RuntimeError: disk full while writing shard 1" in done.stderr
    assert "run rcli: traceback: flyte runs show rcli a1 · logs: flyte logs rcli a1" in done.stderr
    assert "writing shard 1" in done.stdout  # the terminal still shows what the task printed
    shown = cli("runs", "show", "rcli", "a1").output
    assert f'File "{script}", line 8, in write_shard' in shown
    assert cli("logs", "rcli", "a1").output.endswith("writing shard 1\n")
    listing = cli("runs", "show", "rcli").output
    assert listing.rstrip().endswith(
        "run rcli: traceback: flyte runs show rcli a1 · logs: flyte logs rcli a1 · all actions: flyte runs show rcli"
    )


# -- an attempt that prints nothing itself: its log is made by whatever writes first ----------


@env.task
def quiet_but_its_thread_prints() -> None:
    worker = threading.Thread(target=lambda: print("only a thread printed"))
    worker.start()
    worker.join()


@env.task
def quiet_but_its_process_prints() -> None:
    subprocess.run([sys.executable, "-c", "print('only a child process printed')"], check=True)


@env.task
async def quiet_but_a_worker_thread_prints() -> None:
    await asyncio.to_thread(print, "only asyncio.to_thread printed")


@pytest.mark.parametrize(
    ("task", "line"),
    [
        (quiet_but_its_thread_prints, "only a thread printed"),
        (quiet_but_its_process_prints, "only a child process printed"),
        (quiet_but_a_worker_thread_prints, "only asyncio.to_thread printed"),
    ],
)
def test_the_first_line_of_an_attempt_may_come_from_its_thread_or_process(task, line):
    flyte.init()
    run = flyte.run(task)
    assert log_of(run.name, "a0") == f"{line}\n"
    with st.reader() as conn:
        (row,) = attempts_of(conn, run.name, "a0")
    assert row["log_path"] and Path(row["log_path"]).read_text() == f"{line}\n"


def test_an_attempt_log_keeps_what_arrives_before_its_close_and_nothing_after():
    from flyte.runtime import logs

    unused = logs.AttemptLog("rlogs", "a1", 1)
    assert unused.close() is None  # printed nothing: no file, no log path recorded
    unused.write("too late\n")  # a thread that outlived its attempt: dropped
    assert unused.close() is None and not Path(unused.path).exists()

    used = logs.AttemptLog("rlogs", "a2", 1)
    written = threading.Thread(target=used.write, args=("from another thread\n",))
    written.start()
    written.join()
    path = used.close()
    used.write("after the end\n")
    logs.drain()
    text = Path(path).read_text()  # (the late line may be counted in a note: it was dropped)
    assert path == used.path and text.startswith("from another thread\n") and "after the end" not in text


def test_a_count_dropped_elsewhere_is_noted_even_when_nothing_was_written():
    """A pool worker over its cap sends no text, only how much it dropped: the note says so."""
    from flyte.runtime import logs

    log = logs.AttemptLog("rlost", "a1", 1)
    log.lost(1234)
    path = log.close()
    logs.drain()
    assert path is not None and "1,234 characters were dropped" in Path(path).read_text()


def _write_lines(log, k: int, go: threading.Barrier, closing: threading.Event, before_close: list[int]) -> None:
    go.wait()
    for i in range(50):
        log.write(f"writer {k} line {i}\n")
        if not closing.is_set():
            before_close[k] = i + 1  # this line's write returned before the close began


def test_writes_racing_the_close_are_kept_or_dropped_whole_never_lost_after_being_accepted():
    """Threads start writing to a fresh log (the first makes its buffer) while the attempt
    ends: every line written before the close began is in the file, whole, and in order."""
    from flyte.runtime import logs

    for attempt in range(1, 30):
        log = logs.AttemptLog("rrace", "a1", attempt)
        go, closing, before_close = threading.Barrier(5), threading.Event(), [0] * 4
        threads = [threading.Thread(target=_write_lines, args=(log, k, go, closing, before_close)) for k in range(4)]
        for t in threads:
            t.start()
        go.wait()
        closing.set()
        path = log.close()
        for t in threads:
            t.join()
        logs.drain()
        text = Path(path).read_text() if path is not None else ""
        for k in range(4):  # each writer's lines arrive in order: a prefix of them was kept
            mine = [line for line in text.splitlines() if line.startswith(f"writer {k} ")]
            assert mine == [f"writer {k} line {i}" for i in range(len(mine))]
            assert len(mine) >= before_close[k]


@env.task
def starts_servers(n: int) -> list[int]:
    # Each backgrounded process keeps its shell's output pipes open after the shell exits.
    return [os.system("sleep 30 &") for _ in range(n)]


def test_an_attempt_waits_once_not_per_child_for_children_whose_pipes_outlive_them(monkeypatch):
    """``os.system("server &")`` (and a Popen whose grandchild keeps its pipes): the ending
    attempt gives the exited children's last lines one wait in all, not one per pipe."""
    from flyte.runtime import logs

    timeouts: list[float] = []
    real_add = logs._LogFile.add_pump

    def add_pump(self: logs._LogFile, child: subprocess.Popen, pump: threading.Thread) -> None:
        real_join = pump.join

        def join(timeout: float | None = None) -> None:
            timeouts.append(timeout)
            real_join(timeout)

        pump.join = join  # type: ignore[method-assign]
        real_add(self, child, pump)

    monkeypatch.setattr(logs._LogFile, "add_pump", add_pump)
    flyte.init()
    assert flyte.run(starts_servers, 3).outputs() == [0, 0, 0]
    assert len(timeouts) == 6  # stdout and stderr of each shell
    assert sum(1 for t in timeouts if t) == 1  # the first waits; the deadline has passed for the rest


CAUGHT = textwrap.dedent(
    """
    import flyte
    env = flyte.TaskEnvironment(name="caught")

    @env.task
    def check_shard(shard: int) -> None:
        raise ValueError(f"shard {shard} is empty")

    @env.task
    def main() -> None:
        try:
            check_shard(1)
        except ValueError:
            pass  # expected: the parent goes on
        raise RuntimeError("the report could not be written")
    """
)


def test_a_failure_the_parent_caught_is_not_where_the_hint_points(tmp_path):
    script = tmp_path / "caught.py"
    script.write_text(CAUGHT)
    done = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "run", "--name", "rcaught", str(script), "main"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 1
    assert "Error: RuntimeError: the report could not be written" in done.stderr
    assert "run rcaught: traceback: flyte runs show rcaught a0 · logs: flyte logs rcaught a0" in done.stderr
