"""The out-of-tree example plugin runs tasks in a fresh interpreter, with the core's
retries/timeouts around it and the child's exceptions brought back as themselves."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from flyte_isolated import Isolated, IsolatedProcessError

import flyte
import flyte.errors

env = flyte.TaskEnvironment(
    name="isolated_env", plugin_config=Isolated(env={"FROM_CONFIG": "yes"}), env_vars={"FROM_TASK": "too"}
)


class ShardError(Exception):
    pass


@env.task
def where(x: int) -> dict:
    return {"pid": os.getpid(), "x": x * 2, "env": [os.environ.get("FROM_CONFIG"), os.environ.get("FROM_TASK")]}


@env.task
async def async_body(x: int) -> int:
    return x + 1


@env.task
def fails() -> None:
    raise ShardError("shard 3 is corrupt")


@env.task
def exits_hard() -> None:
    os._exit(7)


@env.task
def sleeps(folder: str) -> None:
    Path(folder, "pid").write_text(str(os.getpid()))
    time.sleep(60)


@env.task(retries=2)
def flaky(folder: str) -> int:
    marker = Path(folder, "attempts")
    attempts = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(attempts))
    if attempts < 3:
        raise RuntimeError(f"attempt {attempts}")
    return attempts


@pytest.fixture(autouse=True)
def local():
    flyte.init()


def test_the_body_runs_in_another_process_with_its_environment():
    out = flyte.run(where, 21).outputs()[0]
    assert out["pid"] != os.getpid() and out["x"] == 42 and out["env"] == ["yes", "too"]
    assert flyte.run(async_body, 1).outputs() == 2


def test_the_childs_exception_comes_back_as_itself_with_its_traceback():
    with pytest.raises(ShardError, match="shard 3 is corrupt") as info:
        flyte.run(fails)
    assert "traceback in the isolated process" in str(info.value) and "in fails" in str(info.value)
    with pytest.raises(IsolatedProcessError, match="exited with status 7"):
        flyte.run(exits_hard)


def test_retries_and_timeouts_apply_and_a_timed_out_child_is_killed(tmp_path):
    assert flyte.run(flaky, str(tmp_path)).outputs() == 3
    # The child must be running (and have written its pid) before the timeout fires. Not an
    # assertion on time: a timeout sized from how long a child takes to start here, now.
    started = time.monotonic()
    flyte.run(where, 1)
    startup = time.monotonic() - started
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(sleeps.override(timeout=max(2.0, 5 * startup)), str(tmp_path))
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 60  # a condition with a generous bound, not a speed limit
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
