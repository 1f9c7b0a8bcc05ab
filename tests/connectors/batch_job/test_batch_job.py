"""The out-of-tree example connector, installed like any third-party one, run through create,
poll and cancel against its service: the connector runtime's guarantees, end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from flyte_batch_job import BatchJobConfig, BatchJobTask

import flyte
from flyte.cli.main import build_cli
from flyte.errors import (
    MaxRuntimeExceededError,
    PermanentConnectorError,
    PluginNotFoundError,
    SecretNotFoundError,
)
from flyte.extend import PollPolicy
from flyte.plugins import PluginRegistry
from flyte.remote import Run
from flyte.runtime import store as st
from flyte.runtime.connectors import ConnectorStateWarning
from waiting import wait_for

from .conftest import TOKEN


def jobs_of(run: str) -> list[dict]:
    with st.reader() as conn:
        return [dict(row) for row in st.connector_jobs(conn, run)]


@pytest.fixture(autouse=True)
def local():
    flyte.init()


def make(service, name: str = "resize", **settings) -> BatchJobTask:
    return BatchJobTask(
        name=name,
        plugin_config=BatchJobConfig(endpoint=service.endpoint, queue="gpu"),
        inputs={"bucket": str, "width": int},
        **settings,
    )


def test_the_connector_is_discovered_from_its_entry_point():
    infos = {i.name: i for i in PluginRegistry().infos()}
    assert infos["batch_job"].distribution == "flyte-batch-job"
    assert infos["batch_job"].connector_types == ("flyte_batch_job.config.BatchJobConfig",)
    listed = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    assert "flyte_batch_job.config.BatchJobConfig" in listed.output


def test_a_parent_task_calls_a_connector_task_and_the_job_is_recorded(service, token_secret):
    resize = make(service)
    jobs_env = flyte.TaskEnvironment.from_task("batch_jobs", resize)
    env = flyte.TaskEnvironment(name="pipeline", depends_on=[jobs_env])

    @env.task
    async def main(width: int) -> dict:
        return await resize(bucket="photos", width=width)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # depends_on given: no DependencyWarning
        run = flyte.run(main, 640)
    result = run.outputs()[0]
    assert result["payload"] == {"bucket": "photos", "width": 640}
    job = service.job(result["job"])
    assert job["queue"] == "gpu" and job["label"].startswith(run.name + "/")
    assert job["deletes"] == 0  # it succeeded: nothing to cancel
    (record,) = jobs_of(run.name)
    assert record["state"] == "SUCCEEDED" and json.loads(record["metadata"]) == {"job_id": result["job"]}
    assert TOKEN not in json.dumps(record)  # the secret is never recorded
    shown = CliRunner().invoke(build_cli(), ["runs", "show", run.name])
    assert result["job"] in shown.output and "SUCCEEDED" in shown.output
    shown = json.loads(CliRunner().invoke(build_cli(), ["runs", "show", run.name, "--json"]).output)
    assert shown["connector_jobs"][0]["metadata"] == {"job_id": result["job"]}


def test_flyte_run_runs_a_connector_task_and_every_phase_is_followed(service, token_secret):
    resize = make(service)
    service.script(["PENDING", "RUNNING", "RUNNING", "DONE"])
    run = flyte.run(resize, bucket="b", width=1)
    assert run.outputs()[0]["payload"] == {"bucket": "b", "width": 1}
    assert service.job(run.outputs()[0]["job"])["gets"] == 4  # one status request per state


def test_an_unknown_state_is_running_and_warned_about_once(service, token_secret):
    resize = make(service)
    service.script(["PENDING", "DEFROSTING", "DEFROSTING", "RUNNING", "DONE"])
    with pytest.warns(ConnectorStateWarning, match="'DEFROSTING'.*treating it as still running") as caught:
        flyte.run(resize, bucket="b", width=2)
    (warned,) = [w for w in caught if issubclass(w.category, ConnectorStateWarning)]
    # at the connector's get(), the code that reported the state, not at flyte's runtime
    from flyte_batch_job import connector

    assert (warned.filename, warned.lineno) == (
        connector.get.__code__.co_filename,
        connector.get.__code__.co_firstlineno,
    )


def test_a_transient_status_error_is_survived(service, token_secret):
    resize = make(service)
    service.script(["RUNNING", "DONE"], flaky=3)  # three 503s before the service answers
    run = flyte.run(resize, bucket="b", width=3)
    assert service.job(run.outputs()[0]["job"])["gets"] == 5


def test_a_failed_job_surfaces_the_services_message_and_is_not_retried_unless_retryable(service, token_secret):
    resize = make(service, retries=2)
    service.script(["RUNNING", "FAILED"], error="disk quota exceeded on /scratch")
    with pytest.raises(PermanentConnectorError, match="resize: disk quota exceeded on /scratch"):
        flyte.run(resize, bucket="b", width=4)
    (run,) = Run.listall(limit=1)
    (action,) = run.actions()
    assert action.attempts == 1 and "disk quota exceeded" in action.error

    service.script(["FAILED"], error="node lost", retryable=True)
    service.script(["RUNNING", "DONE"])
    run = flyte.run(resize, bucket="b", width=5)
    records = jobs_of(run.name)
    assert [r["state"] for r in records] == ["FAILED", "SUCCEEDED"] and [r["attempt"] for r in records] == [1, 2]
    failed = service.job(json.loads(records[0]["metadata"])["job_id"])
    assert failed["deletes"] == 1  # a failed job's resources are released, once


def test_a_timed_out_attempt_cancels_its_job_once(service, token_secret):
    resize = make(service, timeout=1)
    before = set(service.jobs())
    service.script(["RUNNING"])  # runs until cancelled
    with pytest.raises(MaxRuntimeExceededError):
        flyte.run(resize, bucket="b", width=6)
    (job_id,) = set(service.jobs()) - before
    job = service.job(job_id)
    assert job["state"] == "CANCELLED" and job["deletes"] == 1
    (run,) = Run.listall(limit=1)
    assert jobs_of(run.name)[0]["state"] == "CANCELLED"


def test_retries_and_the_cache_apply_as_for_any_task(service, token_secret):
    resize = make(service, retries=1, cache="auto")
    service.script(["FAILED"], error="spot instance reclaimed", retryable=True)
    first = flyte.run(resize, bucket="cached", width=7).outputs()[0]
    jobs = len(service.jobs())
    again = flyte.run(resize, bucket="cached", width=7).outputs()[0]
    assert again == first and len(service.jobs()) == jobs  # a cache hit: no new job
    (run,) = Run.listall(limit=1)
    assert run.actions()[0].cache == "hit"
    # The config is part of the cache version: another queue is another result.
    other = BatchJobTask(
        name="resize",
        plugin_config=BatchJobConfig(endpoint=service.endpoint, queue="cpu"),
        inputs={"bucket": str, "width": int},
        cache="auto",
    )
    assert flyte.run(other, bucket="cached", width=7).outputs()[0]["job"] != first["job"]


def test_a_missing_secret_is_named(service):
    resize = make(service)
    with pytest.raises(SecretNotFoundError, match="resize: secret 'batch-token' not found"):
        flyte.run(resize, bucket="b", width=8)


def test_called_outside_any_run_it_does_the_work_unrecorded(service, token_secret):
    resize = make(service)
    result = asyncio.run(resize(bucket="direct", width=9))
    assert result["payload"] == {"bucket": "direct", "width": 9}
    assert list(Run.listall()) == []


def test_bad_definitions_fail_when_defined(service):
    with pytest.raises(ValueError, match=r"BatchJobConfig.endpoint: 'ftp://x' is not accepted \(an http\(s\) URL"):
        BatchJobConfig(endpoint="ftp://x")
    with pytest.raises(ValueError, match="inputs: 'not-an-identifier'"):
        BatchJobTask(
            name="t", plugin_config=BatchJobConfig(endpoint=service.endpoint), inputs={"not-an-identifier": int}
        )
    with pytest.raises(TypeError, match="`report` does not apply to a connector task"):
        make(service, report=True)
    with pytest.raises(ValueError, match="PollPolicy.jitter: 1.5 is not accepted"):
        PollPolicy(jitter=1.5)
    with pytest.raises(PluginNotFoundError, match="no installed plugin handles Unowned"):

        class Unowned:
            pass

        BatchJobTask.__mro__[1](name="t", plugin_config=Unowned())


def test_from_task_groups_connector_tasks_for_depends_on(service, token_secret):
    resize = make(service, name="sql.like.name")
    assert resize.env.name == "sql_like_name"  # its own environment until adopted
    group = flyte.TaskEnvironment.from_task("jobs", resize)
    assert resize.env is group and group.tasks == {"sql.like.name": resize}
    assert resize.spec.name == "sql.like.name" and resize.spec.env_name == "jobs"
    with pytest.raises(ValueError, match="already belongs to environment 'jobs'"):
        flyte.TaskEnvironment.from_task("other", resize)
    unrelated = flyte.TaskEnvironment(name="unrelated")

    @unrelated.task
    async def caller() -> dict:
        return await resize(bucket="b", width=10)

    flyte.init(strict_dependencies=True)
    with pytest.raises(flyte.errors.DependencyError, match="does not list in depends_on"):
        flyte.run(caller)


def test_render_says_a_connector_task_needs_no_object(service, tmp_path):
    script = tmp_path / "jobs.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import flyte
            from flyte_batch_job import BatchJobConfig, BatchJobTask

            resize = BatchJobTask(name="resize", plugin_config=BatchJobConfig(endpoint="{service.endpoint}"),
                                  inputs={{"width": int}})
            jobs = flyte.TaskEnvironment.from_task("jobs", resize)
            env = flyte.TaskEnvironment(name="pipeline", depends_on=[jobs])

            @env.task
            async def main() -> dict:
                return await resize(width=1)
            """
        )
    )
    alone = CliRunner().invoke(build_cli(), ["render", str(script), "resize"])
    assert alone.exit_code == 0, alone.output
    assert alone.output.startswith("# resize: a connector task (flyte_batch_job.config.BatchJobConfig)")
    tree = CliRunner().invoke(build_cli(), ["render", str(script), "env"])
    assert tree.exit_code == 0 and "# resize: a connector task" in tree.output and "kind: Job" in tree.output


SCRIPT = """
import os, sys
import flyte
from flyte_batch_job import BatchJobConfig, BatchJobTask

resize = BatchJobTask(name="resize", plugin_config=BatchJobConfig(endpoint=os.environ["ENDPOINT"]),
                      inputs={"width": int})
env = flyte.TaskEnvironment(name="pipeline", depends_on=[flyte.TaskEnvironment.from_task("jobs", resize)])

@env.task
async def main() -> dict:
    return await resize(width=11)

if __name__ == "__main__":
    flyte.init()
    flyte.with_runcontext(name=sys.argv[1]).run(main)
"""


def _start_run(tmp_path: Path, service, name: str) -> tuple[subprocess.Popen, str]:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    before = set(service.jobs())
    service.script(["RUNNING"])  # runs until cancelled
    process = subprocess.Popen([sys.executable, str(script), name], env={**os.environ, "ENDPOINT": service.endpoint})
    job_id = wait_for(lambda: next(iter(set(service.jobs()) - before), None), what="the job to be created")
    wait_for(lambda: jobs_of(name), what="the job to be recorded")
    return process, job_id


def test_ctrl_c_cancels_the_job(service, token_secret, tmp_path):
    process, job_id = _start_run(tmp_path, service, "interrupted")
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    assert service.job(job_id)["state"] == "CANCELLED" and service.job(job_id)["deletes"] == 1


def test_flyte_abort_run_from_another_process_cancels_the_job(service, token_secret, tmp_path):
    process, job_id = _start_run(tmp_path, service, "aborted")
    result = CliRunner().invoke(build_cli(), ["abort", "run", "aborted", "--reason", "wrong inputs"])
    assert result.exit_code == 0 and "run aborted: ABORTED" in result.output, result.output
    process.wait(timeout=120)
    assert service.job(job_id)["state"] == "CANCELLED" and service.job(job_id)["deletes"] == 1
    shown = CliRunner().invoke(build_cli(), ["runs", "show", "aborted"])
    assert "wrong inputs" in shown.output


def test_a_job_left_by_a_killed_process_is_cancelled_from_the_cli(service, token_secret, tmp_path):
    process, job_id = _start_run(tmp_path, service, "killed")
    refused = CliRunner().invoke(build_cli(), ["runs", "cancel", "killed"])
    assert refused.exit_code == 1 and "is still running" in refused.output, refused.output
    assert "flyte abort run killed" in refused.output
    process.kill()
    process.wait()
    assert service.job(job_id)["deletes"] == 0  # nobody cancelled it
    shown = CliRunner().invoke(build_cli(), ["runs", "show", "killed"])
    assert job_id in shown.output  # the remote work is named
    cancelled = CliRunner().invoke(build_cli(), ["runs", "cancel", "killed"])
    assert cancelled.exit_code == 0, cancelled.output
    assert "CANCELLED" in cancelled.output and job_id in cancelled.output
    assert service.job(job_id)["state"] == "CANCELLED" and service.job(job_id)["deletes"] == 1
    again = CliRunner().invoke(build_cli(), ["runs", "cancel", "killed"])
    assert "left no connector job running" in again.output and service.job(job_id)["deletes"] == 1


def test_a_service_echoing_the_secret_it_refused_leaves_it_in_no_record(service, token_secret):
    resize = make(service)
    service.script(["RUNNING", "FAILED"], error=f"token {TOKEN} was refused")
    with pytest.raises(PermanentConnectorError) as failed:
        flyte.run(resize, bucket="b", width=6)
    assert TOKEN in str(failed.value)  # the caller's own exception is the service's words
    (run,) = Run.listall(limit=1)
    (action,) = run.actions()
    assert "token *** was refused" in action.error
    with st.reader() as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM actions")]
        rows += [dict(r) for r in conn.execute("SELECT * FROM attempts")]
        rows += [dict(r) for r in conn.execute("SELECT * FROM runs")]
    rows += jobs_of(run.name)
    assert TOKEN not in json.dumps(rows, default=str)
    shown = CliRunner().invoke(build_cli(), ["runs", "show", run.name]).output
    assert "***" in shown and TOKEN not in shown
