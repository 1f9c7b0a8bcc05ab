"""``flyte.rerun`` / ``with_runcontext(...).rerun`` (the reference SDK's rerun and recover of a
prior run) replay a run on a control plane. Locally they exist, check their arguments as the
reference does, and end in a clear error saying what to do instead, not an AttributeError."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.errors import ActionNotFoundError, ConfigurationError, NotAvailableLocallyError
from flyte.remote import Run

env = flyte.TaskEnvironment(name="rerun_local")


@env.task
async def flaky(n: int, fail: bool = True) -> int:
    if fail:
        raise ConnectionError("service down")
    return n * 2


@pytest.fixture
def failed_run(flyte_home) -> str:
    flyte.init()
    with pytest.raises(ConnectionError):
        flyte.run(flaky, 3)
    (run,) = Run.listall(limit=1)
    return run.name


def test_rerun_and_recover_say_they_need_a_control_plane_and_what_to_do_locally(failed_run: str):
    for rerun in (flyte.rerun, flyte.with_runcontext(env_vars={"X": "0"}).rerun):
        with pytest.raises(NotAvailableLocallyError) as caught:
            rerun(failed_run, recover=True, fail=False)
        message = str(caught.value)
        assert failed_run in message and "recover=True" in message
        assert "task rerun_local.flaky again: flyte.run(flaky, " in message  # what to do instead
        assert isinstance(caught.value, NotImplementedError)  # as the reference SDK raises it locally
    for rerun_aio in (flyte.rerun.aio, flyte.with_runcontext().rerun.aio):
        with pytest.raises(NotAvailableLocallyError, match=failed_run):
            asyncio.run(rerun_aio(failed_run))


def test_rerun_arguments_are_checked_first(failed_run: str):
    with pytest.raises(ActionNotFoundError, match="no run named 'r-missing'"):
        flyte.rerun("r-missing")
    with pytest.raises(ConfigurationError, match=r"run_name: expected .*got int 7"):
        flyte.rerun(7)
    with pytest.raises(ConfigurationError, match="recover: expected True or False, got str 'yes'"):
        flyte.rerun(failed_run, recover="yes")
    with pytest.raises(ValueError, match="force_rerun_actions requires recover=True"):
        flyte.rerun(failed_run, force_rerun_actions=["a1"])
    with pytest.raises(ValueError, match="recover=True cannot be combined with action_name='a1'"):
        flyte.rerun(failed_run, action_name="a1", recover=True)


def test_flyte_rerun_command_refuses_with_the_runs_task_and_exit_status_1(failed_run: str):
    result = CliRunner().invoke(build_cli(), ["rerun", failed_run, "--recover", "--fail", "false", "--follow"])
    assert result.exit_code == 1, result.output
    assert f"rerun: flyte.rerun: recover=True of run {failed_run!r}" in result.output
    assert "task rerun_local.flaky again" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(build_cli(), ["rerun", "r-missing"])
    assert result.exit_code == 1 and "no run named 'r-missing'" in result.output
    result = CliRunner().invoke(build_cli(), ["rerun", failed_run, "--force-rerun-action", "a1"])
    assert result.exit_code == 1 and "force_rerun_actions requires recover=True" in result.output


def test_rerun_takes_the_references_positional_arguments_and_checks_force_rerun_actions(failed_run: str):
    for rerun in (flyte.rerun, flyte.with_runcontext().rerun):
        # rerun(run_name, action_name, recover, force_rerun_actions, allow_missing_source_outputs)
        with pytest.raises(NotAvailableLocallyError, match=failed_run):
            rerun(failed_run, "a0", True, ["a1"], False)
        with pytest.raises(ConfigurationError, match=r"force_rerun_actions: expected a list of action names"):
            rerun(failed_run, recover=True, force_rerun_actions="a1")  # a str would be its characters
        with pytest.raises(ConfigurationError, match=r"force_rerun_actions: expected a list of action names"):
            rerun(failed_run, recover=True, force_rerun_actions=[1])
    with pytest.raises(NotAvailableLocallyError):
        asyncio.run(flyte.rerun.aio(failed_run, "a0", True, ["a1"]))


def test_flyte_rerun_takes_the_references_options_before_and_after_the_run_name(failed_run: str):
    args = ["rerun", "-p", "default", "-d", "development", failed_run, "-f", "--label", "team=ml"]
    result = CliRunner().invoke(build_cli(), [*args, "--allow-missing-outputs", "--recover", "--n", "4"])
    assert result.exit_code == 1, result.output
    assert f"recover=True of run {failed_run!r}" in result.output  # not "no run named '-p'"
    assert "inputs(), n=...)" in result.output  # only the task's input, not label=/allow_missing_outputs=
