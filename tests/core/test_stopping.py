"""A timed-out, cancelled or interrupted attempt stops: its body, its processes, its run.

No test here asserts a duration: each waits for a condition (with a generous limit) and
proves the order of events instead, e.g. that ``flyte.run`` returned while the body it timed
out was still blocked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import flyte
import flyte.errors
from flyte.remote import Run
from flyte.runtime import bodies

# An interruption sent as a body ends must be absorbed on the body's thread, never raised into
# the runtime's own code (it once killed the pool thread, or hit the driving caller's code).
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

env = flyte.TaskEnvironment(name="stopping")
has_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")

# Bodies below block on this until the test releases it (in C: nothing interrupts that wait).
release = threading.Event()
state: dict[str, object] = {}


@pytest.fixture(autouse=True)
def local_backend():
    global release, state
    flyte.init()
    # New ones for each test: a body that its test left blocked, released at the test's end,
    # writes into its own test's dict (the bodies hold on to theirs), not the next test's.
    state, release = {}, threading.Event()
    yield
    release.set()  # let every body still blocked in this test finish


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    limit = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > limit:
            pytest.fail(f"gave up waiting ({timeout:g}s) for: {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pids(folder: Path) -> dict[str, int]:
    found = {}
    for path in folder.glob("*.pid"):
        text = path.read_text().strip()
        if text:
            found[path.stem] = int(text)
    return found


# -- item 6: a timed-out attempt ends at its limit, whatever its body does -------------------


@env.task(timeout=0.5)
async def async_waits_in_c() -> str:
    mine = state
    mine["started"] = True
    release.wait()  # blocks the thread in C, as a blocking client library would
    mine["finished"] = True
    return "never seen"


@env.task(timeout=0.5)
async def async_sleeps() -> str:
    mine = state
    time.sleep(30)
    mine["finished"] = True
    return "never seen"


@env.task(timeout=0.5)
def sync_waits_in_c() -> str:
    mine = state
    release.wait()
    mine["finished"] = True
    return "never seen"


@pytest.mark.parametrize("task", [async_waits_in_c, async_sleeps, sync_waits_in_c], ids=lambda t: t.short_name)
def test_a_blocking_body_times_out_while_it_still_blocks(task):
    with pytest.raises(flyte.errors.MaxRuntimeExceededError, match="ran longer than 0.5s"):
        flyte.run(task)
    assert "finished" not in state  # the run ended while the body was still blocked


@env.task(timeout=0.5)
async def async_spins() -> str:
    try:
        while True:  # a CPU loop: it never awaits, so only an interruption stops it
            state["spins"] = state.get("spins", 0) + 1
    except flyte.errors.TaskInterruptedError:
        state["interrupted"] = True
        raise


def test_a_cpu_bound_async_body_is_timed_out_and_interrupted():
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(async_spins)
    wait_until(lambda: state.get("interrupted"), "the CPU loop to be interrupted")
    spins = state["spins"]
    time.sleep(0.2)
    assert state["spins"] == spins  # and it no longer runs


@env.task(timeout=0.5)
async def ignores_its_cancellation() -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        state["cancelled"] = True
        try:
            while True:  # carries on as if it had not been cancelled
                pass
        except flyte.errors.TaskInterruptedError:
            state["interrupted"] = True
            raise


def test_an_async_body_that_ignores_its_cancellation_is_interrupted():
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(ignores_its_cancellation)
    wait_until(lambda: state.get("interrupted"), "the body to be interrupted after its grace")
    assert state["cancelled"]


@env.task(timeout=60)
async def blocks_until_released() -> str:
    return "released" if release.wait(30) else "the loop was blocked"


@env.task
async def releases_after_ticks() -> int:
    for _ in range(3):
        await asyncio.sleep(0.01)
    release.set()
    return 3


@env.task
async def blocked_and_ticking() -> list:
    return list(await asyncio.gather(blocks_until_released(), releases_after_ticks()))


def test_the_controller_loop_runs_other_tasks_while_a_timed_body_blocks():
    assert flyte.run(blocked_and_ticking).outputs() == ["released", 3]


@env.task(timeout=0.5, retries=1)
async def first_attempt_blocks() -> str:
    if flyte.ctx().attempt == 1:
        mine = state
        release.wait()
        mine["first_finished"] = True
        return "first"
    return "second"


def test_a_timed_out_attempt_is_retried_at_once_while_the_first_still_blocks():
    run = flyte.run(first_attempt_blocks)
    assert run.outputs() == "second"
    assert "first_finished" not in state
    (action,) = Run.get(run.name).actions()
    assert action.attempts == 2 and action.phase == "SUCCEEDED"


@env.task(retries=10, timeout=flyte.Timeout(deadline=0.5))
async def blocks_past_its_deadline() -> str:
    mine = state
    release.wait()
    mine["finished"] = True
    return "never seen"


def test_a_deadline_stops_a_blocking_body():
    with pytest.raises(flyte.errors.DeadlineExceededError):
        flyte.run(blocks_past_its_deadline)
    assert "finished" not in state


@env.task
def tick() -> int:
    return 1


@env.task(timeout=0.5)
def swallows_everything() -> None:
    while not state.get("refused"):
        try:
            try:
                tick()
            except Exception as exc:  # the interruption included: nothing stops this loop but a refusal
                if "cannot call tasks any more" in str(exc):
                    state["refused"] = True
        except Exception:  # the interruption again, landing in the handler above: swallowed too
            pass


def test_a_body_that_outlives_its_attempt_cannot_start_more_task_calls():
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(swallows_everything)
    wait_until(lambda: state.get("refused"), "the body's next task call to be refused")


@env.task(timeout=60)
async def leaves_a_task_running() -> str:
    async def background() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            state["background_cancelled"] = True
            raise

    state["background"] = asyncio.create_task(background())
    await asyncio.sleep(0)
    return "done"


def test_tasks_a_timed_async_body_leaves_running_are_cancelled_when_it_ends():
    assert flyte.run(leaves_a_task_running).outputs() == "done"
    wait_until(lambda: state.get("background_cancelled"), "the body's leftover task to be cancelled")


# -- item 7: a stopped attempt's processes are stopped with it -------------------------------

SHELL_WITH_GRANDCHILD = "sleep 300 & echo $! > {folder}/{tag}-grandchild.pid; echo $$ > {folder}/{tag}-shell.pid; wait"
# A session leader whose child leaves it: the orphan is found through the session's group.
SESSION_WITH_ORPHAN = (
    "(sleep 300 & echo $! > {folder}/{tag}-orphan.pid); echo $$ > {folder}/{tag}-leader.pid; sleep 300"
)


@env.task(timeout=2)
def sync_popen(folder: str) -> None:
    child = subprocess.Popen(["sleep", "300"])
    Path(folder, "popen-child.pid").write_text(str(child.pid))
    child.wait()


@env.task(timeout=2)
def sync_shell(folder: str) -> None:
    subprocess.run(["sh", "-c", SHELL_WITH_GRANDCHILD.format(folder=folder, tag="shell")], check=False)


@env.task(timeout=2)
def sync_new_session(folder: str) -> None:
    subprocess.run(
        ["sh", "-c", SESSION_WITH_ORPHAN.format(folder=folder, tag="session")], start_new_session=True, check=False
    )


@env.task(timeout=2)
async def async_subprocess(folder: str) -> None:
    proc = await asyncio.create_subprocess_exec("sh", "-c", SHELL_WITH_GRANDCHILD.format(folder=folder, tag="aio"))
    await proc.wait()


@env.task(timeout=2)
async def async_blocking_subprocess(folder: str) -> None:
    subprocess.run(["sh", "-c", SHELL_WITH_GRANDCHILD.format(folder=folder, tag="blocking")], check=False)


SPAWNERS = {
    sync_popen: 1,
    sync_shell: 2,
    sync_new_session: 2,
    async_subprocess: 2,
    async_blocking_subprocess: 2,
}


@has_proc
@pytest.mark.parametrize("task", list(SPAWNERS), ids=lambda t: t.short_name)
def test_a_timed_out_attempts_process_tree_is_killed(task, tmp_path):
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.run(task, str(tmp_path))
    started = pids(tmp_path)
    assert len(started) == SPAWNERS[task], f"the processes did not start in time: {started}"
    wait_until(lambda: not any(alive(p) for p in started.values()), f"{started} to be killed")


@env.task(timeout=600)
async def spawns_and_waits(folder: str) -> None:
    proc = await asyncio.create_subprocess_exec("sh", "-c", SHELL_WITH_GRANDCHILD.format(folder=folder, tag="child"))
    await proc.wait()


@env.task(timeout=600)
def sync_spawns_and_waits(folder: str) -> None:
    subprocess.run(["sh", "-c", SHELL_WITH_GRANDCHILD.format(folder=folder, tag="sync")], check=False)


@env.task
async def cancels_its_children(folder: str) -> str:
    children = [asyncio.create_task(spawns_and_waits(folder)), asyncio.create_task(sync_spawns_and_waits.aio(folder))]
    while len(pids(Path(folder))) < 4:
        await asyncio.sleep(0.02)
    for child in children:
        child.cancel()
    results = await asyncio.gather(*children, return_exceptions=True)
    return ",".join(type(r).__name__ for r in results)


@has_proc
def test_a_cancelled_attempts_process_tree_is_killed_and_it_is_recorded_aborted(tmp_path):
    run = flyte.run(cancels_its_children, str(tmp_path))
    assert run.outputs() == "CancelledError,CancelledError"
    started = pids(tmp_path)
    wait_until(lambda: not any(alive(p) for p in started.values()), f"{started} to be killed")
    phases = {a.task: a.phase for a in Run.get(run.name).actions()}
    assert phases == {
        "stopping.cancels_its_children": "SUCCEEDED",
        "stopping.spawns_and_waits": "ABORTED",
        "stopping.sync_spawns_and_waits": "ABORTED",
    }


EXITS_PROMPTLY = textwrap.dedent("""
    import asyncio, time, flyte
    env = flyte.TaskEnvironment(name="exits")

    @env.task(timeout=0.5)
    def sync_sleeps() -> None:
        time.sleep(300)

    @env.task(timeout=0.5)
    async def async_sleeps() -> None:
        time.sleep(300)

    @env.task
    async def main() -> list:
        got = await asyncio.gather(async_sleeps(), asyncio.to_thread(sync_sleeps), return_exceptions=True)
        return [type(e).__name__ for e in got]

    flyte.init()
    print(flyte.run(main).outputs()[0], flush=True)
""")


def test_the_interpreter_exits_without_waiting_for_timed_out_bodies(tmp_path, flyte_home):
    script = tmp_path / "exits.py"
    script.write_text(EXITS_PROMPTLY)
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "FLYTE_HOME": str(flyte_home)},
        capture_output=True,
        text=True,
        timeout=120,  # far less than the bodies' 300 s sleeps
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['MaxRuntimeExceededError', 'MaxRuntimeExceededError']"


FAN_OUT = textwrap.dedent("""
    import asyncio, sys, threading, flyte
    env = flyte.TaskEnvironment(name="fan")
    n = int(sys.argv[1])
    together = threading.Barrier(n, timeout=120)

    @env.task(timeout=600)
    async def child(i: int) -> int:
        if sys.argv[2] == "together":
            together.wait()  # every body is running at once, each on its own loop
        else:
            await asyncio.sleep(2)
        return i

    @env.task
    async def parent() -> int:
        return len(await asyncio.gather(*(child(i) for i in range(n))))

    flyte.init()
    print(flyte.run(parent).outputs()[0])
""")


def run_with_open_file_limit(tmp_path: Path, flyte_home: Path, soft: int, hard: int, *args: str):
    import resource

    script = tmp_path / "fan_out.py"
    script.write_text(FAN_OUT)
    return subprocess.run(
        [sys.executable, str(script), *args],
        env={**os.environ, "FLYTE_HOME": str(flyte_home)},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX open-file limits")
def test_many_timed_async_bodies_at_once_fit_under_a_low_soft_open_file_limit(tmp_path, flyte_home):
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard open-file limit ({hard}) leaves no room to raise the soft one")
    done = run_with_open_file_limit(tmp_path, flyte_home, 256, hard, "150", "together")  # 150 loops: 450 fds
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "150"


@env.task(timeout=60)
async def timed_leaf(i: int) -> int:
    await asyncio.sleep(0.2)
    return i


@env.task
async def timed_burst(n: int) -> int:
    return sum(await asyncio.gather(*(timed_leaf(i) for i in range(n))))


@has_proc
def test_a_burst_of_timed_async_bodies_gives_its_file_descriptors_back_when_it_ends():
    # Each timed async body running at once has a thread with an event loop (three fds); the
    # idle threads keep a few loops for the next bodies, not one per body of the burst.
    flyte.run(timed_burst, 2)
    before = len(os.listdir("/proc/self/fd"))
    assert flyte.run(timed_burst, 60).outputs() == sum(range(60))
    assert len(os.listdir("/proc/self/fd")) <= before + 3 * bodies.IDLE_LOOPS


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX open-file limits")
def test_too_many_timed_async_bodies_for_the_hard_open_file_limit_is_a_clear_error(tmp_path, flyte_home):
    done = run_with_open_file_limit(tmp_path, flyte_home, 256, 256, "150", "apart")
    assert done.returncode == 1
    assert "cannot start an event loop for an async task with a time limit" in done.stderr
    assert "raise the open-file limit (ulimit -n)" in done.stderr


INTERRUPTED = textwrap.dedent("""
    import asyncio, subprocess, sys, time
    import flyte

    SHELL = "sleep 300 & echo $! > {folder}/{tag}-grandchild.pid; echo $$ > {folder}/{tag}-shell.pid; wait"
    env = flyte.TaskEnvironment(name="interrupted")

    @env.task
    def sync_spawner(folder: str) -> None:
        subprocess.run(["sh", "-c", SHELL.format(folder=folder, tag="sync")])

    @env.task(timeout=600)
    async def timed_spawner(folder: str) -> None:
        proc = await asyncio.create_subprocess_exec("sh", "-c", SHELL.format(folder=folder, tag="timed"))
        await proc.wait()

    @env.task
    async def untimed_spawner(folder: str) -> None:
        proc = await asyncio.create_subprocess_exec("sh", "-c", SHELL.format(folder=folder, tag="untimed"))
        await proc.wait()

    @env.task
    def stuck() -> None:
        time.sleep(300)

    @env.task
    async def main(folder: str) -> None:
        await asyncio.gather(
            asyncio.to_thread(sync_spawner, folder), timed_spawner(folder), untimed_spawner(folder),
            asyncio.to_thread(stuck),
        )

    if __name__ == "__main__":
        flyte.init()
        flyte.with_runcontext(name="interrupted").run(main, folder=sys.argv[1])
""")


BLOCKED_LOOP = textwrap.dedent("""
    import asyncio, subprocess, sys, time
    from pathlib import Path
    import flyte

    SHELL = "sleep 300 & echo $! > {folder}/{tag}-grandchild.pid; echo $$ > {folder}/{tag}-shell.pid; wait"
    env = flyte.TaskEnvironment(name="interrupted")

    @env.task
    def sync_spawner(folder: str) -> None:
        subprocess.run(["sh", "-c", SHELL.format(folder=folder, tag="sync")])

    @env.task
    async def blocks_the_loop(folder: str) -> None:
        while len(list(Path(folder).glob("*.pid"))) < 2:
            await asyncio.sleep(0.02)
        Path(folder, "blocking").write_text("")
        time.sleep(300)  # no time limit: it runs on the run's loop, and blocks it

    @env.task
    async def main(folder: str) -> None:
        await asyncio.gather(asyncio.to_thread(sync_spawner, folder), blocks_the_loop(folder))

    if __name__ == "__main__":
        flyte.init()
        flyte.with_runcontext(name="interrupted").run(main, folder=sys.argv[1])
""")


@has_proc
def test_ctrl_c_when_a_body_blocks_the_runs_loop_still_aborts_the_run(tmp_path, flyte_home):
    script = tmp_path / "blocked.py"
    script.write_text(BLOCKED_LOOP)
    folder = tmp_path / "pids"
    folder.mkdir()
    command = [sys.executable, str(script), str(folder)]
    done = interrupt_and_check(command, folder, flyte_home, ready=lambda: (folder / "blocking").exists())
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr


def interrupt_and_check(
    command: list[str], folder: Path, flyte_home: Path, ready: Callable[[], bool] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, send it SIGINT once it is ``ready`` (by default: its six processes
    started), and check that it exits, its processes are gone and its run is ABORTED."""
    ready = ready or (lambda: len(pids(folder)) == 6)
    proc = subprocess.Popen(
        command,
        env={**os.environ, "FLYTE_HOME": str(flyte_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Python turns SIGINT into KeyboardInterrupt unless it starts with SIGINT ignored, as
        # it does under a shell's background job: restore the default for the child.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_until(lambda: ready() or proc.poll() is not None, "the run to start")
        assert proc.poll() is None, proc.communicate()
        started = pids(folder)
        proc.send_signal(signal.SIGINT)  # to the Python process only, as `kill -INT` would
        stdout, stderr = proc.communicate(timeout=60)  # far less than the tasks' 300 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    wait_until(lambda: not any(alive(p) for p in started.values()), f"{started} to be killed")
    run = Run.get("interrupted")
    assert run.phase == "ABORTED"
    assert {a.phase for a in run.actions()} == {"ABORTED"}
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


@has_proc
def test_ctrl_c_during_flyte_run_aborts_the_run_and_kills_its_processes(tmp_path, flyte_home):
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    folder = tmp_path / "pids"
    folder.mkdir()
    done = interrupt_and_check([sys.executable, str(script), str(folder)], folder, flyte_home)
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr


@has_proc
def test_ctrl_c_during_the_flyte_run_command_aborts_the_run_and_kills_its_processes(tmp_path, flyte_home):
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    folder = tmp_path / "pids"
    folder.mkdir()
    command = [sys.executable, "-m", "flyte.cli.main", "run", "--name", "interrupted", str(script), "main"]
    done = interrupt_and_check([*command, "--folder", str(folder)], folder, flyte_home)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
