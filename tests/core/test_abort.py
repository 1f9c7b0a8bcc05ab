"""Aborting a run from another process: ``flyte abort run NAME`` and ``Run.abort()`` (the public
example ``abort-tasks/external_abort.py`` aborts from outside the run)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
from ctrl_c import finish
from flyte.cli.main import build_cli
from flyte.remote import Run
from flyte.runtime import aborts
from flyte.runtime import store as st

SCRIPT = textwrap.dedent(
    """
    import asyncio, pathlib, sys
    import flyte

    env = flyte.TaskEnvironment("external_abort")


    @env.task
    async def long_sleeper(sleep_for: float):
        pathlib.Path(sys.argv[1]).touch()
        await asyncio.sleep(sleep_for)


    @env.task
    async def main(n: int, sleep_for: float) -> str:
        await asyncio.gather(*[long_sleeper(sleep_for) for _ in range(n)], return_exceptions=True)
        return "Hello World!"


    if __name__ == "__main__":
        flyte.init_from_config()
        flyte.with_runcontext(name=sys.argv[2]).run(main, 3, 600.0)
    """
)


def _start(tmp_path: Path, name: str) -> subprocess.Popen[str]:
    script = tmp_path / "external_abort.py"
    script.write_text(SCRIPT)
    marker = tmp_path / "started"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(marker), name], env=os.environ, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120  # a guard against a hung child, not a speed check
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    # The run's row: its writer records it on its own schedule.
    while not st.run_exists(name) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not (marker.exists() and st.run_exists(name)):
        proc.kill()
        finish(proc)
        pytest.fail("the run never started")
    return proc


def test_run_abort_stops_a_run_another_process_is_running(tmp_path):
    proc = _start(tmp_path, "nightly")
    run = Run.get("nightly")
    assert run.phase == "RUNNING"
    run.abort(reason="wrong inputs")
    code, stderr = finish(proc)
    assert code == 1
    assert "ActionAbortedError: run nightly was aborted: wrong inputs" in stderr
    run.wait(timeout=60)
    assert run.phase == "ABORTED" and "wrong inputs" in run.error
    phases = {action.phase for action in Run.get("nightly").actions()}
    assert phases == {"ABORTED"}  # the parent and its three sleepers: nothing left RUNNING


def test_flyte_abort_run_waits_for_the_end_and_says_how_it_ended(tmp_path):
    proc = _start(tmp_path, "from-cli")
    result = CliRunner().invoke(build_cli(), ["abort", "run", "from-cli", "--reason", "enough"])
    assert result.exit_code == 0, result.output
    assert "run from-cli: ABORTED" in result.output
    code, _ = finish(proc)
    assert code == 1
    assert Run.get("from-cli").error == "ActionAbortedError: run from-cli was aborted: enough"


def test_flyte_abort_action_of_the_root_aborts_the_run(tmp_path):
    # The reference SDK's spelling, `flyte abort action RUN ACTION`, as the abort guide gives it.
    proc = _start(tmp_path, "by-action")
    result = CliRunner().invoke(build_cli(), ["abort", "action", "by-action", "a0", "--reason", "stop it"])
    assert result.exit_code == 0, result.output
    assert "run by-action: ABORTED" in result.output
    code, _ = finish(proc)
    assert code == 1
    assert Run.get("by-action").error == "ActionAbortedError: run by-action was aborted: stop it"


env = flyte.TaskEnvironment(name="abort_ended")


@env.task
def quick() -> int:
    return 1


@env.task
async def calls_quick() -> int:
    return quick() + 1


def test_flyte_abort_action_names_what_it_cannot_abort_locally():
    flyte.with_runcontext(name="nested").run(calls_quick)
    child = CliRunner().invoke(build_cli(), ["abort", "action", "nested", "a1"])
    assert child.exit_code == 1
    assert (
        "abort: action a1 of run nested is not the run's root (a0); locally only a whole run can be aborted: "
        "flyte abort run nested"
    ) in child.output
    unknown = CliRunner().invoke(build_cli(), ["abort", "action", "nested", "a9"])
    assert unknown.exit_code == 1 and "abort: run nested has no action 'a9'" in unknown.output
    no_run = CliRunner().invoke(build_cli(), ["abort", "action", "no-such-run", "a0"])
    assert no_run.exit_code == 1 and "abort: no run named 'no-such-run'" in no_run.output
    assert Run.get("nested").phase == "SUCCEEDED"


def test_a_run_that_has_ended_stays_as_it_ended():
    flyte.with_runcontext(name="done").run(quick)
    result = CliRunner().invoke(build_cli(), ["abort", "run", "done"])
    assert result.exit_code == 0 and "run done had already ended: SUCCEEDED" in result.output
    run = Run.get("done")
    run.abort()
    assert (run.phase, Run.get("done").phase, run.outputs()) == ("SUCCEEDED", "SUCCEEDED", 1)


def test_a_run_whose_process_died_is_recorded_aborted_when_asked(tmp_path):
    proc = _start(tmp_path, "orphan")
    proc.kill()
    proc.wait()
    with st.reader() as conn:  # as the dead process left it
        assert conn.execute("SELECT status FROM runs WHERE name='orphan'").fetchone()[0] == "RUNNING"
    assert aborts.request("orphan", "cleanup") == "ABORTED"
    with st.reader() as conn:
        assert conn.execute("SELECT status FROM runs WHERE name='orphan'").fetchone()[0] == "ABORTED"


def test_bad_requests_name_the_value_and_what_is_accepted():
    result = CliRunner().invoke(build_cli(), ["abort", "run", "no-such-run"])
    assert result.exit_code == 1
    assert "abort: run 'no-such-run' is not recorded under this state root" in result.output
    with pytest.raises(ValueError, match=r"abort: reason='  ' is not valid \(accepted: a non-empty str\)"):
        aborts.request("no-such-run", "  ")
    result = CliRunner().invoke(build_cli(), ["abort", "run", "x", "--wait", "-1"])
    assert result.exit_code == 2 and "--wait" in result.output
