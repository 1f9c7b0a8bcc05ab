"""A run's and an action's phase equal both the recorded name ("SUCCEEDED") and the reference
SDK's ``flyte.models.ActionPhase`` member, and still print and serialise as the recorded name."""

from __future__ import annotations

import json
import pickle

import pytest
from click.testing import CliRunner

import flyte
from flyte._phase import Phase
from flyte.cli.main import build_cli
from flyte.models import ActionPhase
from flyte.remote import Action, Run

env = flyte.TaskEnvironment(name="phases")


@env.task
def leaf(fail: bool) -> int:
    if fail:
        raise ValueError("leaf failed on purpose")
    return 1


@env.task
def root(fail: bool) -> int:
    return leaf(fail)


@pytest.fixture
def runs() -> tuple[Run, Run]:
    flyte.init()
    ok = flyte.run(root, fail=False)
    with pytest.raises(ValueError):
        flyte.with_runcontext(name="failed-run").run(root, fail=True)
    return ok, Run.get("failed-run")


def test_run_phase_equals_the_action_phase_member_and_the_recorded_name(runs):
    ok, failed = runs
    # Both orders on purpose: ActionPhase's own comparison is asked first when it is on the left.
    assert ok.phase == ActionPhase.SUCCEEDED and ActionPhase.SUCCEEDED == ok.phase  # noqa: SIM300
    assert ok.phase == "SUCCEEDED" and ok.status == ActionPhase.SUCCEEDED
    assert failed.phase == ActionPhase.FAILED and failed.phase == "FAILED"
    assert failed.phase != ActionPhase.SUCCEEDED and ActionPhase.SUCCEEDED != failed.phase  # noqa: SIM300
    assert (failed.phase != ActionPhase.FAILED) is False
    assert (ActionPhase.FAILED != failed.phase) is False  # noqa: SIM300
    assert failed.phase in (ActionPhase.FAILED, ActionPhase.ABORTED)
    assert ok.phase.is_terminal and ok.done


def test_phase_prints_and_serialises_as_the_recorded_name(runs):
    ok, _ = runs
    assert str(ok.phase) == f"{ok.phase}" == "SUCCEEDED"
    assert json.dumps({"phase": ok.phase}) == '{"phase": "SUCCEEDED"}'
    assert ok.phase in {"SUCCEEDED"}  # hashes as the recorded name: sets of names keep working
    assert pickle.loads(pickle.dumps(ok.phase)) == ActionPhase.SUCCEEDED


def test_cli_prints_recorded_names(runs):
    listed = CliRunner().invoke(build_cli(), ["runs", "list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    assert {r["phase"] for r in json.loads(listed.output)} == {"SUCCEEDED", "FAILED"}
    table = CliRunner().invoke(build_cli(), ["runs", "list"])
    assert "SUCCEEDED" in table.output and "FAILED" in table.output and "ActionPhase" not in table.output


def test_actions_by_the_reference_names_and_phase_filters(runs):
    _, failed = runs
    actions = list(Action.listall(for_run_name=failed.name))
    assert [(a.name, a.task_name, a.run_name) for a in actions] == [
        ("a0", "phases.root", "failed-run"),
        ("a1", "phases.leaf", "failed-run"),
    ]
    assert all(a.phase == ActionPhase.FAILED and a.phase == "FAILED" and a.done for a in actions)
    assert [a.name for a in Action.listall(failed.name, in_phase=(ActionPhase.FAILED,))] == ["a0", "a1"]
    assert list(Action.listall(failed.name, in_phase=("succeeded",))) == []
    assert [a.name for a in failed.iter_actions([ActionPhase.FAILED])] == ["a0", "a1"]
    assert Action.get(failed.name, "a1").parent_name == "a0"


def test_runs_listed_by_phase(runs):
    ok, failed = runs
    assert [r.name for r in Run.listall(in_phase=(ActionPhase.FAILED,))] == [failed.name]
    assert [r.name for r in Run.listall(in_phase=["succeeded", "FAILED"])] == [failed.name, ok.name]
    assert [r.name for r in Run.listall(limit=1, in_phase=[ActionPhase.SUCCEEDED, ActionPhase.FAILED])] == [failed.name]
    assert list(Run.listall(in_phase=(ActionPhase.ABORTED,))) == []
    assert [r.name for r in Run.listall(in_phase=("FAILED",), task="phases.root")] == [failed.name]
    assert list(Run.listall(in_phase=("FAILED",), task="phases.leaf")) == []


def test_a_run_whose_process_died_is_listed_as_aborted(runs):
    import sqlite3

    from flyte.runtime import store as st

    _, failed = runs
    with sqlite3.connect(st.db_path()) as conn:  # recorded as running by a process that is gone
        conn.execute("UPDATE runs SET status='RUNNING', ended_at=NULL, pid=999999999 WHERE name=?", (failed.name,))
    assert [r.name for r in Run.listall(in_phase=(ActionPhase.RUNNING,))] == []
    assert [r.name for r in Run.listall(in_phase=(ActionPhase.ABORTED,))] == [failed.name]


def test_a_retrying_action_is_running_to_the_reference():
    assert Phase("RETRYING") == ActionPhase.RUNNING and not Phase("RETRYING").is_terminal
    assert Phase("RUNNING") == ActionPhase.RUNNING and Phase("RUNNING") != ActionPhase.QUEUED
    assert Phase("SOMETHING_NEW") != ActionPhase.RUNNING and Phase("SOMETHING_NEW").action_phase is None
