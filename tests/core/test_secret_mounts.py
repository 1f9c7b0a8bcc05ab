"""Mounted secrets locally: the guide's ``/etc/flyte/secrets/<key>`` reads the task's own file,
two processes never share one, and no file outlives its process, however the process ends."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import flyte
from flyte.runtime import secret_store

GUIDE = "/etc/flyte/secrets"
WAIT = 120  # generous: the machine is shared; these are bounds on waiting, not on speed


def wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def guide_listing() -> list[str] | None:
    try:
        return sorted(os.listdir(GUIDE))
    except OSError:
        return None


# -- in one process ----------------------------------------------------------------------------

other = flyte.TaskEnvironment(name="mounted_other", secrets=[flyte.Secret(key="other_key", mount=GUIDE)])
plain = flyte.TaskEnvironment(name="no_secrets")
mounted = flyte.TaskEnvironment(
    name="mounted",
    secrets=[flyte.Secret(key="my_secret", mount="/etc/flyte/secrets"), flyte.Secret("api_key", as_env_var="API")],
    depends_on=[other, plain],
)


@plain.task
def child_without_secrets() -> list[str]:
    """A task that mounts nothing sees none of its caller's files."""
    return [str(os.path.exists(f"{GUIDE}/my_secret")), str(os.environ.get("FLYTE_SECRETS_MOUNT"))]


@other.task
async def other_reader() -> list[str]:
    await asyncio.sleep(0.05)
    return [open(f"{GUIDE}/other_key").read(), *sorted(os.listdir(GUIDE))]


@mounted.task
async def guide_reader() -> dict[str, object]:
    # The guide's own code, then every other covered way to reach the same file.
    with open("/etc/flyte/secrets/my_secret", "r") as f:  # noqa: UP015 (the guide, verbatim)
        guide = f.read()
    folder = os.environ["FLYTE_SECRETS_MOUNT"]
    both = await asyncio.gather(other_reader(), asyncio.to_thread(lambda: "thread"))
    fd = os.open(f"{GUIDE}/my_secret", os.O_RDONLY)
    try:
        raw = os.read(fd, 100).decode()
    finally:
        os.close(fd)
    return {
        "guide": guide,
        "pathlib": pathlib.Path(GUIDE, "my_secret").read_text(),
        "bytes_path": open(b"/etc/flyte/secrets/my_secret", "rb").read().decode(),
        "os_open": raw,
        "via_variable": open(os.path.join(folder, "my_secret")).read(),
        "exists": [os.path.exists(f"{GUIDE}/my_secret"), os.path.isfile(f"{GUIDE}/my_secret"), os.path.isdir(GUIDE)],
        "listing": sorted(os.listdir(GUIDE)),
        "iterdir": sorted(p.name for p in pathlib.Path(GUIDE).iterdir()),
        "size": os.stat(f"{GUIDE}/my_secret").st_size,
        "folder": folder,
        "folder_mode": oct(stat.S_IMODE(os.stat(folder).st_mode)),
        "file_mode": oct(stat.S_IMODE(os.stat(os.path.join(folder, "my_secret")).st_mode)),
        "other": both[0],
        "child": await asyncio.to_thread(child_without_secrets),
    }


def test_the_guides_path_reads_the_tasks_own_file_and_nothing_is_written_there():
    secret_store.create("my_secret", b"file-value-7f3a")
    secret_store.create("api_key", b"env-value")
    secret_store.create("other_key", b"other-value")
    before = guide_listing()
    out = flyte.run(guide_reader).outputs()[0]
    value = "file-value-7f3a"
    assert [out["guide"], out["pathlib"], out["bytes_path"], out["os_open"], out["via_variable"]] == [value] * 5
    assert out["exists"] == [True, True, True]
    assert out["listing"] == out["iterdir"] == ["my_secret"]  # only its own mounted secrets
    assert out["size"] == len(value)
    assert out["folder_mode"] == "0o700" and out["file_mode"] == "0o600"
    assert out["other"] == ["other-value", "other_key"]  # a concurrent task: its own folder
    assert out["child"] == ["False", "None"]
    from flyte.runtime import secret_mounts

    folder = Path(out["folder"])
    assert folder.parent.parent == secret_mounts.base_dir()
    assert not folder.exists(), "the attempt's folder outlived the attempt"
    assert guide_listing() == before, "a local run wrote to /etc/flyte/secrets"
    # Outside a task the guide's path is the real one again, and the wrapped functions still
    # answer the capability checks libraries make (shutil.rmtree, pathlib).
    assert not os.path.exists(f"{GUIDE}/my_secret")
    assert os.stat in os.supports_follow_symlinks and os.open in os.supports_dir_fd and os.scandir in os.supports_fd


def test_a_worker_process_started_for_the_task_reads_the_guides_path(tmp_path: Path):
    folder = tmp_path / "mount"
    folder.mkdir(mode=0o700)
    (folder / "k").write_text("worker-value")
    code = textwrap.dedent(
        """
        from flyte import shipping
        def body():
            return open("/etc/flyte/secrets/k").read()
        print(shipping.call(body, {}))
        """
    )
    env = {**os.environ, "FLYTE_SECRETS_MOUNT": str(folder)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "worker-value"


# -- across processes ----------------------------------------------------------------------------

TWO_PROCESSES = """
import os, sys, time
import flyte

me, other, expected, sync = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
env = flyte.TaskEnvironment(name="collide", secrets=[flyte.Secret(key="shared", mount="/etc/flyte/secrets")])

def barrier(name):
    open(os.path.join(sync, f"{name}-{me}"), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(sync, f"{name}-{other}")):
        assert time.monotonic() < deadline, f"{other} never reached {name}"
        time.sleep(0.01)

@env.task
def read_repeatedly() -> int:
    barrier("started")  # both tasks have their files from here on
    reads = 0
    for _ in range(200):
        with open("/etc/flyte/secrets/shared") as f:
            assert f.read() == expected, "read another process's value"
        with open(os.path.join(os.environ["FLYTE_SECRETS_MOUNT"], "shared")) as f:
            assert f.read() == expected, "read another process's value"
        reads += 2
        time.sleep(0.002)
    barrier("finished")  # neither removes its files while the other still reads
    return reads

flyte.init(project=me)
print(flyte.run(read_repeatedly).outputs()[0])
"""


def test_two_processes_with_different_values_for_one_key_each_read_their_own(flyte_home: Path, tmp_path: Path):
    secret_store.create("shared", b"value-of-A", project="pa")
    secret_store.create("shared", b"value-of-B", project="pb")
    script = tmp_path / "collide.py"
    script.write_text(TWO_PROCESSES)
    sync = tmp_path / "sync"
    sync.mkdir()
    env = {**os.environ, "FLYTE_HOME": str(flyte_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), me, other, value, str(sync)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other, value in (("pa", "pb", "value-of-A"), ("pb", "pa", "value-of-B"))
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
        assert out.strip().splitlines()[-1] == "400"


# -- however a process ends ----------------------------------------------------------------------

SLEEPER = """
import asyncio, os, sys
import flyte

env = flyte.TaskEnvironment(name="sleeper", secrets=[flyte.Secret(key="held", mount="/etc/flyte/secrets")])

@env.task
async def hold(report: str) -> None:
    with open(report + ".part", "w") as f:
        f.write(os.environ["FLYTE_SECRETS_MOUNT"])
    os.replace(report + ".part", report)
    await asyncio.sleep(600)

flyte.init()
flyte.run(hold, report=sys.argv[1])
"""


def start_sleeper(flyte_home: Path, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    secret_store.create("held", b"held-value-91c2")
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    report = tmp_path / "mount.txt"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(report)],
        env={**os.environ, "FLYTE_HOME": str(flyte_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: report.exists() or proc.poll() is not None, "the task to start")
    assert proc.poll() is None, "the sleeper exited early"
    folder = Path(report.read_text())
    assert (folder / "held").read_bytes() == b"held-value-91c2"
    return proc, folder


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_an_interrupted_or_terminated_run_removes_its_secret_files_itself(
    flyte_home: Path, tmp_path: Path, signum: int
):
    proc, folder = start_sleeper(flyte_home, tmp_path)
    proc.send_signal(signum)
    proc.wait(timeout=WAIT)
    assert not folder.exists() and not folder.parent.exists(), "secret files outlived their process"


def test_a_killed_processes_secret_files_are_removed_by_the_next_flyte_process(flyte_home: Path, tmp_path: Path):
    proc, folder = start_sleeper(flyte_home, tmp_path)
    proc.kill()
    proc.wait(timeout=WAIT)
    assert (folder / "held").exists()  # SIGKILL leaves no chance: the next process sweeps it
    env = {**os.environ, "FLYTE_HOME": str(flyte_home)}
    listed = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "runs", "list"], env=env, capture_output=True, timeout=WAIT
    )
    assert listed.returncode == 0, listed.stderr
    assert not folder.parent.exists()


def test_the_sweep_keeps_live_processes_folders_and_removes_dead_ones(tmp_path: Path):
    from flyte.runtime import secret_mounts

    base = tmp_path / "base"
    base.mkdir()
    prefix = secret_mounts._own_prefix()
    mine = base / f"{prefix}{os.getpid()}-{secret_mounts.process_start(os.getpid())}-aaaa"
    reused = base / f"{prefix}{os.getpid()}-1-bbbb"  # our pid, another start time: a dead process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = base / f"{prefix}{dead.pid}-0-cccc"
    unrelated = base / "flyte-secrets-elsewhere"
    for folder in (mine, reused, gone, unrelated):
        folder.mkdir()
        (folder / "k").write_text("v")
    assert sorted(secret_mounts.sweep(base)) == sorted([reused, gone])
    assert mine.exists() and unrelated.exists()


def test_runs_sweep_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch):
    from flyte.runtime import secret_mounts

    swept: list[None] = []
    monkeypatch.setattr(secret_mounts, "sweep", lambda: swept.append(None))
    monkeypatch.setattr(secret_mounts, "_last_sweep", [float("-inf")])
    monkeypatch.setattr(secret_mounts, "SWEEP_EVERY", 3600.0)
    for _ in range(5):  # a loop of short runs: one sweep
        secret_mounts.prepare()
    assert len(swept) == 1
    monkeypatch.setattr(secret_mounts, "SWEEP_EVERY", 0.0)  # the interval has passed: it sweeps again
    secret_mounts.prepare()
    assert len(swept) == 2
