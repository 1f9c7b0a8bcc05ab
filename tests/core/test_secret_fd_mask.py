"""What a task with secrets writes to descriptors 1 and 2 itself (``os.write``, ``sys.__stdout__``,
C's ``printf``, a process it spawns) reaches the terminal and its log masked, and the
descriptors are the terminal's again once it ends; a task without secrets leaves them alone.

Each case runs as a script in a process of its own: its descriptors 1 and 2 are the pipes
the test reads, as a terminal would show them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flyte.runtime import redact

VALUE = "S3CR3T-fd-value-42"

PRELUDE = f"""
import asyncio, ctypes, os, sys, time
import flyte
from flyte.runtime import secret_store

env = flyte.TaskEnvironment(name="fdmask", secrets=flyte.Secret(key="fd_token", as_env_var="FD_TOKEN"))
plain = flyte.TaskEnvironment(name="fdplain")
flyte.init()
secret_store.create("fd_token", {VALUE!r}.encode())
BEFORE = os.readlink("/proc/self/fd/1"), os.readlink("/proc/self/fd/2")


def restored() -> bool:
    return (os.readlink("/proc/self/fd/1"), os.readlink("/proc/self/fd/2")) == BEFORE
"""

DIRECT = """
@env.task
def leaky() -> str:
    t = os.environ["FD_TOKEN"]
    # First: print() is written at once, the descriptors' text by a thread a moment later, so
    # a print() just after a direct write may land inside its line.
    print("print", t)
    os.write(1, f"os.write 1 {t}\\n".encode())
    os.write(2, f"os.write 2 {t}\\n".encode())
    sys.__stdout__.write(f"dunder stdout {t}\\n")  # buffered: never flushed by the task
    ctypes.CDLL(None).printf(f"printf {t}\\n".encode())  # C's stdio buffer: no fflush either
    pid = os.posix_spawn("/bin/echo", ["echo", "spawned", t], dict(os.environ))
    os.waitpid(pid, 0)
    os.write(1, t[:6].encode())  # a value in two writes, apart
    time.sleep(0.3)
    os.write(1, (t[6:] + " split\\n").encode())
    return os.readlink("/proc/self/fd/1")


@plain.task
def no_secret() -> str:
    os.write(1, b"plain task writes\\n")
    return os.readlink("/proc/self/fd/1")


during = flyte.run(leaky)
print("pipe while it ran:", during.outputs()[0].startswith("pipe:"), flush=True)
print("untouched without secrets:", flyte.run(no_secret).outputs()[0] == BEFORE[0], flush=True)
print("restored:", restored(), flush=True)
os.write(1, b"written after the run\\n")
print("RUN", during.name, flush=True)
"""


def run_script(tmp_path: Path, body: str, **kwargs) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + body)
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=dict(os.environ), **kwargs
    )


def attempt_log(home: Path, run: str, action: str = "a0") -> str:
    return (home / "runs" / run / "logs" / f"{action}-1.log").read_text()


def test_direct_writes_reach_the_terminal_and_the_log_masked(flyte_home: Path, tmp_path: Path):
    done = run_script(tmp_path, DIRECT)
    assert done.returncode == 0, done.stderr
    out, err = done.stdout, done.stderr
    assert VALUE not in out + err and VALUE[6:] not in out + err
    expected = ["os.write 1 ***", "dunder stdout ***", "printf ***", "spawned ***", "*** split", "print ***"]
    for line in expected:
        assert line in out.splitlines(), (line, out)
    assert "os.write 2 ***" in err.splitlines()
    assert "pipe while it ran: True" in out and "untouched without secrets: True" in out
    assert "restored: True" in out and "written after the run" in out
    assert "plain task writes" in out  # a task without secrets: straight through, as before
    run = out.split("RUN ")[1].split()[0]
    log = attempt_log(flyte_home, run).splitlines()
    for line in [*expected, "os.write 2 ***"]:
        assert line in log, (line, log)
    assert VALUE not in "\n".join(log)


CONCURRENT = """
@env.task
async def child(i: int) -> int:
    os.write(1, f"child {i} {os.environ['FD_TOKEN']}\\n".encode())
    await asyncio.sleep(0.05)
    return i


@env.task
async def parent(n: int) -> int:
    os.write(2, f"parent {os.environ['FD_TOKEN']}\\n".encode())
    return sum(await asyncio.gather(*(child(i) for i in range(n))))


@env.task
def sync_one(i: int) -> int:
    ctypes.CDLL(None).printf(f"sync {i} {os.environ['FD_TOKEN']}\\n".encode())
    return i


@env.task
async def mixed() -> int:
    a, b = await asyncio.gather(parent(4), asyncio.gather(*(asyncio.to_thread(sync_one, i) for i in range(3))))
    return a + sum(b)


for _ in range(3):
    assert flyte.run(mixed).outputs()[0] == 9
    print("restored:", restored(), flush=True)
"""


def test_nested_and_concurrent_tasks_with_secrets_share_the_pipes_and_restore_them(tmp_path: Path):
    done = run_script(tmp_path, CONCURRENT)
    assert done.returncode == 0, done.stderr
    out, err = done.stdout, done.stderr
    assert VALUE not in out + err
    assert out.count("restored: True") == 3
    assert sorted(line for line in out.splitlines() if line.startswith("child")) == sorted(
        f"child {i} ***" for i in range(4) for _ in range(3)
    )
    assert sum(line.startswith("sync ") and line.endswith(" ***") for line in out.splitlines()) == 9
    assert err.splitlines().count("parent ***") == 3


OUTLIVES = """
@env.task
def starts_a_late_writer() -> None:
    # A process that inherits the pipe and writes after the task ended.
    os.posix_spawn("/bin/sh", ["sh", "-c", 'sleep 1; echo late "$FD_TOKEN"'], dict(os.environ))


flyte.run(starts_a_late_writer)
print("restored:", restored(), flush=True)
time.sleep(3)
print("done", flush=True)
"""


def test_a_process_that_outlives_its_task_writes_masked(tmp_path: Path):
    done = run_script(tmp_path, OUTLIVES)
    assert done.returncode == 0, done.stderr
    assert VALUE not in done.stdout + done.stderr
    assert done.stdout.splitlines() == ["restored: True", "late ***", "done"]


INTERRUPTED = """
@env.task
def blocks() -> None:
    ctypes.CDLL(None).printf(f"before the stop {os.environ['FD_TOKEN']}\\n".encode())  # still in C's buffer
    sys.__stdout__.write(f"python buffer {os.environ['FD_TOKEN']}\\n")
    os.write(2, b"ready\\n")
    time.sleep(120)


flyte.run(blocks)
"""


def test_output_of_an_interrupted_run_is_neither_lost_nor_unmasked(tmp_path: Path):
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + INTERRUPTED)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 120
        assert proc.stderr.readline() == b"ready\n"  # (copied out of the pipe as it came)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    finally:
        proc.kill()
        proc.wait()
    assert VALUE.encode() not in out + err
    assert b"before the stop ***" in out.splitlines() and b"python buffer ***" in out.splitlines()


def test_the_start_of_a_value_is_held_back_until_the_rest_shows_it_was_not_one(monkeypatch: pytest.MonkeyPatch):
    # Only this value: one that other tests of the session remembered may start with the last
    # character of any of these texts (the "e" of "value"), and then holding it back is right.
    monkeypatch.setattr(redact, "_values", ())
    monkeypatch.setattr(redact, "_seen", set())
    redact.remember("fd-unfinished-value")
    assert redact.unfinished("text then fd-unfin") == len("fd-unfin")
    assert redact.unfinished("text then fd-unfinished-value") == 0  # whole: masked, nothing to hold
    assert redact.unfinished("a complete line\n") == 0
    assert redact.unfinished("ends with fd-x") == 0


@pytest.fixture(autouse=True)
def _posix_only():
    if not os.path.exists("/proc/self/fd"):
        pytest.skip("reads /proc to see where descriptors point")


CRASHES = """
import faulthandler

faulthandler.enable()


@env.task
def crashes() -> None:
    ctypes.string_at(0)  # a segmentation fault


flyte.run(crashes)
"""


def test_a_crash_dump_still_reaches_the_terminal(tmp_path: Path):
    # The process dies before the pipe's thread could copy the dump: it is written past it.
    done = run_script(tmp_path, CRASHES)
    assert done.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in done.stderr and "in crashes" in done.stderr


POOLED = """
pooled = flyte.TaskEnvironment(
    name="fdpool",
    secrets=flyte.Secret(key="fd_token", as_env_var="FD_TOKEN"),
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=60),
)


@pooled.task
def in_a_worker() -> int:
    os.write(1, f"worker os.write {os.environ['FD_TOKEN']}\\n".encode())
    ctypes.CDLL(None).printf(f"worker printf {os.environ['FD_TOKEN']}\\n".encode())
    return os.getpid()


run = flyte.run(in_a_worker)
assert run.outputs()[0] != os.getpid()
print("RUN", run.name, flush=True)
"""


def test_a_reusable_environments_worker_masks_direct_writes_too(flyte_home: Path, tmp_path: Path):
    done = run_script(tmp_path, POOLED)
    assert done.returncode == 0, done.stderr
    assert VALUE not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "worker os.write ***" in lines and "worker printf ***" in lines
    log = attempt_log(flyte_home, done.stdout.split("RUN ")[1].split()[0]).splitlines()
    assert "worker os.write ***" in log and "worker printf ***" in log
