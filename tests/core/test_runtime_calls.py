"""Every call form of the guide works locally, and runs are recorded where users look."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

import flyte
import flyte.errors
from flyte.cli.main import build_cli
from flyte.remote import Run

env = flyte.TaskEnvironment(name="calls")


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


@env.task
def square(x: int) -> int:
    return x * x


@env.task
async def add(a: int, b: int = 10) -> int:
    return a + b


@env.task
async def forms() -> dict[str, object]:
    gathered = await asyncio.gather(*(add(i) for i in range(3)))
    created = await asyncio.create_task(add(1, b=1))
    sync_value = square(4)  # a sync task called from async code returns its value
    overridden = await add.override(retries=2, short_name="add-more")(5)
    return {"gathered": gathered, "created": created, "sync": sync_value, "overridden": overridden}


@env.task
def sync_parent(n: int) -> list[int]:
    return [square(i) for i in range(n)]


def test_every_call_form_of_the_guide():
    out = flyte.run(forms).outputs()[0]
    assert out == {"gathered": [10, 11, 12], "created": 2, "sync": 16, "overridden": 15}


def test_sync_children_of_a_sync_parent_and_default_inputs():
    assert flyte.run(sync_parent, 4).outputs() == [0, 1, 4, 9]
    assert flyte.run(add, a=1).outputs() == 11
    assert flyte.run(add, 1, 2).outputs() == 3


def test_children_run_concurrently():
    # Every child waits until all 20 are running at once: run one after another, the first
    # would never see the others (and the wait would time out), whatever the machine's speed.
    state: dict = {"running": 0}

    @env.task
    async def nap(i: int) -> int:
        all_in = state.setdefault("all_in", asyncio.Event())
        state["running"] += 1
        if state["running"] == 20:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), timeout=60)
        return i

    @env.task
    async def many() -> list[int]:
        return list(await asyncio.gather(*(nap(i) for i in range(20))))

    assert flyte.run(many).outputs() == list(range(20))
    assert state["running"] == 20


def test_a_task_called_outside_a_run_is_a_plain_call():
    assert square(3) == 9
    assert asyncio.run(add(2)) == 12
    assert square.__name__ == "square" and "x" in str(square.__wrapped__.__code__.co_varnames)


def test_bad_arguments_name_the_task():
    with pytest.raises(TypeError, match="calls.add"):
        flyte.run(add, 1, 2, 3)


def test_runs_and_actions_are_recorded_and_listed():
    run = flyte.run(forms)
    got = Run.get(run.name)
    assert got.phase == "SUCCEEDED" and got.outputs() == run.outputs()
    actions = got.actions()
    assert actions[0].task == "calls.forms" and actions[0].parent is None
    assert {a.task for a in actions[1:]} == {"calls.add", "calls.square"}
    assert all(a.parent == actions[0].id for a in actions[1:])
    assert run.name in [r.name for r in Run.listall()]


def test_a_failed_run_is_recorded_as_failed():
    @env.task
    async def broken() -> None:
        raise KeyError("missing column")

    with pytest.raises(KeyError):
        flyte.with_runcontext(name="broken-run").run(broken)
    got = Run.get("broken-run")
    assert got.phase == "FAILED" and "missing column" in got.error
    with pytest.raises(RuntimeError, match="FAILED"):
        got.outputs()


def test_run_names_must_be_unique():
    flyte.with_runcontext(name="once").run(add, 1)
    with pytest.raises(ValueError, match="already exists") as raised:
        flyte.with_runcontext(name="once").run(add, 1)
    # The parameter, the value and what would be accepted.
    assert "name='once'" in str(raised.value) and "another name, or none" in str(raised.value)
    assert Run.get("once").outputs() == 11  # the first run's record is untouched


SLEEPER = textwrap.dedent("""
    import asyncio, flyte
    env = flyte.TaskEnvironment(name="sleepy")

    @env.task
    async def child() -> None:
        await asyncio.sleep(60)

    @env.task
    async def main() -> None:
        await child()

    flyte.init()
    flyte.with_runcontext(name="doomed").run(main)
""")


def test_a_killed_run_shows_as_aborted_not_running_forever(tmp_path, flyte_home):
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "FLYTE_HOME": str(flyte_home)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(Run.get("doomed").actions()) == 2:
                    break
            except Exception:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("the run never started")
        assert Run.get("doomed").phase == "RUNNING"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    got = Run.get("doomed")
    assert got.phase == "ABORTED"
    assert {a.phase for a in got.actions()} == {"ABORTED"}
    result = CliRunner().invoke(build_cli(), ["runs", "show", "doomed", "--json"])
    assert json.loads(result.output)["phase"] == "ABORTED"


INTERRUPTED = textwrap.dedent("""
    import sys, time, flyte
    from pathlib import Path
    env = flyte.TaskEnvironment(name="interrupted")

    @env.task
    def busy(folder: str) -> None:
        try:  # the marker inside: an interrupt landing as touch() returns still runs the finally
            Path(folder, "started").touch()
            while True:
                time.sleep(0.05)
        finally:
            Path(folder, "unwound").touch()

    flyte.init()
    flyte.with_runcontext(name="interrupted").run(busy, folder=sys.argv[1])
""")


def test_ctrl_c_cancels_the_run_so_a_sync_body_unwinds_and_the_process_exits(tmp_path, flyte_home):
    script = tmp_path / "busy.py"
    script.write_text(INTERRUPTED)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        env={**os.environ, "FLYTE_HOME": str(flyte_home)},
        stderr=subprocess.PIPE,
        # As from a terminal: a shell starts background jobs with SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the task never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # without the wind-down it waits for the body forever
    finally:
        if proc.poll() is None:
            proc.kill()
    assert b"KeyboardInterrupt" in err
    assert (tmp_path / "unwound").exists()  # the body was interrupted, its finally ran
    assert Run.get("interrupted").phase == "ABORTED"


CLI_TASKS = textwrap.dedent('''
    import dataclasses, enum
    from datetime import datetime
    import flyte

    env = flyte.TaskEnvironment(name="cli")

    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    @env.task
    async def process(data: list[int], batch_size: int = 32, verbose: bool = False,
                      scale: float = 1.0, color: Color = Color.RED, when: datetime | None = None,
                      point: Point | None = None, meta: dict[str, int] | None = None) -> dict:
        """Processes data in batches."""
        return {"n": len(data), "batch_size": batch_size, "verbose": verbose, "scale": scale,
                "color": color.value, "when": when.isoformat() if when else None,
                "point": dataclasses.asdict(point) if point else None, "meta": meta}

    @env.task
    async def explode(x: int) -> int:
        raise ValueError(f"bad x {x}")
''')


def test_flyte_run_cli_typed_parameters_defaults_and_help(tmp_path):
    tasks = tmp_path / "cli_tasks.py"
    tasks.write_text(CLI_TASKS)
    runner = CliRunner()
    result = runner.invoke(build_cli(), ["run", str(tasks), "process", "--data", "[1, 2, 3]"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["batch_size"] == 32
    result = runner.invoke(
        build_cli(),
        [
            "run",
            str(tasks),
            "process",
            "--data",
            "[1]",
            "--batch-size",
            "64",
            "--verbose",
            "--scale",
            "2.5",
            "--color",
            "blue",
            "--when",
            "2025-01-31T09:30",
            "--point",
            '{"x": 1, "y": 2}',
            "--meta",
            '{"a": 1}',
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "n": 1,
        "batch_size": 64,
        "verbose": True,
        "scale": 2.5,
        "color": "blue",
        "when": "2025-01-31T09:30:00+00:00",  # (a datetime reaches a task in UTC)
        "point": {"x": 1, "y": 2},
        "meta": {"a": 1},
    }
    help_text = runner.invoke(build_cli(), ["run", str(tasks), "process", "--help"]).output
    assert "--batch-size" in help_text and "Processes data in batches" in help_text


def test_flyte_run_cli_failure_is_short_and_exits_nonzero(tmp_path):
    tasks = tmp_path / "cli_tasks.py"
    tasks.write_text(CLI_TASKS)
    result = CliRunner().invoke(build_cli(), ["run", str(tasks), "explode", "--x", "3"])
    assert result.exit_code == 1
    assert "ValueError: bad x 3" in result.output
    bad = CliRunner().invoke(build_cli(), ["run", str(tasks), "process", "--data", "not json"])
    assert bad.exit_code == 2 and "not valid JSON" in bad.output


@env.task
def countdown(n: int) -> int:
    return 0 if n == 0 else 1 + countdown(n - 1)


@env.task(timeout=0.2)
def stuck_child() -> int:
    while True:  # a CPU loop: only the interruption stops it
        pass


@env.task
def survives_a_child_timeout() -> str:
    try:
        stuck_child()
    except flyte.errors.TaskTimeoutError as exc:
        return f"child timed out: {type(exc).__name__}; then {square(3)}"
    return "no timeout"


def test_deep_sync_nesting_and_a_timed_out_sync_child_inside_a_sync_parent():
    run = flyte.run(countdown, 40)
    assert run.outputs() == 40 and len(run.actions()) == 41
    assert flyte.run(survives_a_child_timeout).outputs() == "child timed out: MaxRuntimeExceededError; then 9"


class QuotaError(Exception):
    def __init__(self, user: str, used: int):
        super().__init__(f"{user} used {used}")
        self.user = user


@env.task
async def fails_with(kind: str) -> None:
    if kind == "value":
        raise ValueError("I will fail!")
    if kind == "key":
        raise KeyError("missing")
    if kind == "os":
        raise FileNotFoundError(2, "no such file", "/x")
    if kind == "connection":  # an OSError without errno (what HTTP clients raise)
        raise ConnectionError("HTTP 503 Service Unavailable")
    raise QuotaError("ana", 7)


@env.task
async def catches(kind: str) -> list:
    import pickle

    seen = []
    try:
        await fails_with(kind)
    except flyte.errors.RuntimeUserError as exc:  # the reference SDK's way of catching a child's error
        seen = [exc.code, str(exc), type(exc).__name__]
        if kind != "quota":  # (QuotaError's own __init__ does not unpickle, combined or not)
            plain = pickle.loads(pickle.dumps(exc))
            seen.append(type(plain) is not type(exc) and type(plain).__name__ == exc.code)
    try:
        await fails_with(kind)
    except (ValueError, KeyError, OSError, QuotaError) as exc:  # and plain Python's
        seen.append(getattr(exc, "user", None) or "plain")
    return seen


def test_a_childs_exception_is_its_own_type_and_a_runtime_user_error():
    assert flyte.run(catches, "value").outputs() == ["ValueError", "I will fail!", "ValueError", True, "plain"]
    assert flyte.run(catches, "key").outputs() == ["KeyError", "'missing'", "KeyError", True, "plain"]
    assert flyte.run(catches, "os").outputs()[0][:3] == [
        "FileNotFoundError",
        "[Errno 2] no such file: '/x'",
        "FileNotFoundError",
    ]
    assert flyte.run(catches, "connection").outputs() == [
        "ConnectionError",
        "HTTP 503 Service Unavailable",  # not "[Errno None] None"
        "ConnectionError",
        True,
        "plain",
    ]
    assert flyte.run(catches, "quota").outputs() == ["QuotaError", "ana used 7", "QuotaError", "ana"]
    with pytest.raises(ValueError, match="I will fail!") as info:
        flyte.run(fails_with, "value")  # the root task's error: its own type, as a child's is
    assert isinstance(info.value, flyte.errors.RuntimeUserError) and info.value.code == "ValueError"
