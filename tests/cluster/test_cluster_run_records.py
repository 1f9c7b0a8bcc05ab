"""Runs on a real API server are recorded in the local run store as they go: the phases the
backend observes while the test plays the operator (the status subresource) and the kubelet,
the cluster's error, the object's kind/name/namespace/context, the YAML kept under the run's
folder (secret references, never values), and ``kubectl`` commands whose label selector
really selects the pods the Job controller made."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import flyte
from cluster.kubeapi import CORE_CONTEXT, CRD_CONTEXT, NAMESPACE, cluster_config, wait_for
from flyte import notify
from flyte.cli.main import build_cli
from flyte.kube import backend
from flyte.models import ActionPhase
from flyte.remote import Run
from flyte.runtime import secret_store
from flyte.runtime import store as st
from http_endpoint import Endpoint

pytestmark = pytest.mark.cluster

RAY = ("ray.io", "v1", "rayjobs")
SECRET_VALUE = "pw-41d7-CLUSTER-NEVER-WRITTEN"


def _ray_env() -> flyte.TaskEnvironment:
    from flyteplugins.ray.task import RayJobConfig, WorkerNodeConfig

    config = RayJobConfig(worker_node_config=[WorkerNodeConfig(group_name="workers")], shutdown_after_job_finishes=True)
    return flyte.TaskEnvironment(name="rec_ray", plugin_config=config)


ray_env = _ray_env()
plain = flyte.TaskEnvironment(name="rec_plain", secrets=[flyte.Secret(key="db_password", as_env_var="DB_PASSWORD")])


@ray_env.task
def add(a: int, b: int) -> int:
    return a + b


@plain.task(retries=0)
def double(x: int) -> int:
    return 2 * x


class Background:
    """``flyte.run`` on a thread, so the test can play the operator meanwhile."""

    def __init__(self, task: Any, name: str, notifications: tuple[Any, ...] = (), **inputs: Any):
        self.name = f"{name}-{uuid.uuid4().hex[:6]}"  # objects of earlier sessions stay on the server
        self.error: BaseException | None = None
        self.notifications = notifications
        self.thread = threading.Thread(target=self._run, args=(task, inputs), daemon=True)
        self.thread.start()

    def _run(self, task: Any, inputs: dict[str, Any]) -> None:
        try:
            flyte.with_runcontext(name=self.name, notifications=self.notifications).run(task, **inputs)
        except BaseException as exc:
            self.error = exc

    def end(self) -> None:
        wait_for(lambda: not self.thread.is_alive(), f"run {self.name} to end", timeout=300)


def action_phase(run: str) -> str | None:
    with st.reader() as conn:
        row = conn.execute("SELECT status FROM actions WHERE run=? AND id='a0'", (run,)).fetchone()
    return row["status"] if row else None


def custom(api: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(api)


def rayjob(api: Any, name: str) -> dict[str, Any] | None:
    items = custom(api).list_namespaced_custom_object(*RAY[:2], NAMESPACE, RAY[2])["items"]
    return next((i for i in items if i["metadata"]["name"].endswith(name)), None)


def play_operator(api: Any, obj: dict[str, Any], status: dict[str, Any]) -> None:
    custom(api).patch_namespaced_custom_object_status(
        *RAY[:2], NAMESPACE, RAY[2], obj["metadata"]["name"], {"status": status}
    )


def show_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(build_cli(), ["runs", "show", *args, "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def on_crd_server(tmp_path):
    flyte.init_from_config(cluster_config(tmp_path, CRD_CONTEXT, tmp_path / "storage"))
    yield
    flyte.init()


@pytest.fixture
def on_core_server(tmp_path):
    flyte.init_from_config(cluster_config(tmp_path, CORE_CONTEXT, tmp_path / "storage"))
    yield
    flyte.init()


def test_a_rayjob_run_is_recorded_phase_by_phase(crd_api, on_crd_server, flyte_home: Path):
    run = Background(add, "rec-ray", a=2, b=3)
    job = wait_for(lambda: rayjob(crd_api, run.name), "the RayJob to be created")
    wait_for(lambda: action_phase(run.name) == "QUEUED", "the action to be recorded QUEUED")
    recorded = Run.get(run.name)
    assert (recorded.phase, recorded.backend) == ("RUNNING", "kubernetes")
    (obj,) = recorded.cluster_objects()
    name = job["metadata"]["name"]
    assert (obj["kind"], obj["name"], obj["namespace"], obj["context"]) == ("RayJob", name, NAMESPACE, CRD_CONTEXT)
    kept = yaml.safe_load(Path(obj["manifest"]).read_text())
    assert kept["spec"]["entrypoint"] == job["spec"]["entrypoint"]  # what the server holds came from it
    assert f"-n {NAMESPACE} get rayjob {name} -o yaml" in obj["kubectl"][0]
    assert obj["kubectl"][-1].endswith(f"-n {NAMESPACE} logs -l job-name={name} --all-containers --prefix")

    play_operator(crd_api, job, {"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"})
    wait_for(lambda: action_phase(run.name) == "RUNNING", "the action to be recorded RUNNING")
    out = Path(backend.outputs_uri(job))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(5))
    play_operator(crd_api, job, {"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"})
    run.end()
    assert run.error is None, run.error

    data = show_json(run.name)
    assert (data["phase"], data["backend"]) == ("SUCCEEDED", "kubernetes")
    assert data["cluster_objects"][0]["status"]["jobStatus"] == "SUCCEEDED"  # as last seen
    (action,) = data["actions"]
    assert action["phase"] == "SUCCEEDED" and action["started_at"] <= action["ended_at"]
    assert Run.get(run.name).outputs() == 5


def test_a_failed_rayjob_records_the_operators_message(crd_api, on_crd_server):
    run = Background(add, "rec-ray-fails", a=1, b=2)
    job = wait_for(lambda: rayjob(crd_api, run.name), "the RayJob to be created")
    play_operator(
        crd_api,
        job,
        {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "reason": "AppFailed", "message": "division by zero"},
    )
    run.end()
    assert run.error is not None
    recorded = Run.get(run.name)
    assert recorded.phase == "FAILED" and "AppFailed: division by zero" in recorded.error
    detail = show_json(run.name, "a0")
    assert detail["phase"] == "FAILED" and "AppFailed: division by zero" in detail["error"]
    (attempt,) = detail["attempt_records"]
    assert attempt["outcome"] == "FAILED" and attempt["worker"].startswith(f"RayJob {NAMESPACE}/")


def test_a_cancelled_run_is_recorded_aborted(crd_api, on_crd_server):
    run = Background(add, "rec-ray-cancel", a=1, b=2)
    wait_for(lambda: rayjob(crd_api, run.name), "the RayJob to be created")
    wait_for(lambda: backend.cancel(run.name), "the run to accept the cancel")
    run.end()
    assert Run.get(run.name).phase == "ABORTED" and action_phase(run.name) == "ABORTED"


def test_a_cluster_runs_notifications_are_delivered_by_the_process_that_follows_it(crd_api, on_crd_server):
    endpoint = Endpoint()
    rules = (
        notify.Webhook(on_phase=ActionPhase.SUCCEEDED, url=endpoint.url + "/ok/SUCCEEDED/{{.Run.Name}}"),
        notify.Webhook(
            on_phase=(ActionPhase.FAILED, ActionPhase.ABORTED),
            url=endpoint.url + "/ok/{{.Phase}}/{{.Run.Name}}",
            body={"error": "{{.Error}}"},
        ),
    )
    try:
        ok = Background(add, "rec-notify-ok", notifications=rules, a=2, b=3)
        job = wait_for(lambda: rayjob(crd_api, ok.name), "the RayJob to be created")
        out = Path(backend.outputs_uri(job))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(5))
        assert endpoint.requests == []  # nothing before the end
        play_operator(crd_api, job, {"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"})
        ok.end()
        assert ok.error is None, ok.error

        failed = Background(add, "rec-notify-failed", notifications=rules, a=1, b=2)
        job = wait_for(lambda: rayjob(crd_api, failed.name), "the RayJob to be created")
        status = {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "reason": "AppFailed", "message": "oops 3"}
        play_operator(crd_api, job, status)
        failed.end()

        cancelled = Background(add, "rec-notify-cancel", notifications=rules, a=1, b=2)
        wait_for(lambda: rayjob(crd_api, cancelled.name), "the RayJob to be created")
        wait_for(lambda: backend.cancel(cancelled.name), "the run to accept the cancel")
        cancelled.end()
    finally:
        endpoint.close()
    assert [r["path"] for r in endpoint.requests] == [
        f"/ok/SUCCEEDED/{ok.name}",
        f"/ok/FAILED/{failed.name}",
        f"/ok/ABORTED/{cancelled.name}",
    ]
    assert "AppFailed: oops 3" in endpoint.requests[1]["json"]["error"]
    assert endpoint.requests[2]["json"]["error"].startswith("ActionAbortedError: run cancelled")
    for run, phase in ((ok, "SUCCEEDED"), (failed, "FAILED"), (cancelled, "ABORTED")):
        outcomes = Run.get(run.name).notifications()
        assert [(o["kind"], o["outcome"], o["phase"]) for o in outcomes] == [("Webhook", "delivered", phase)]
        assert show_json(run.name)["notifications"][0]["outcome"] == "delivered"


def test_a_jobs_record_names_pods_the_job_controller_made_and_no_secret_value(
    core_api, on_core_server, flyte_home: Path
):
    from kubernetes import client

    secret_store.create("db_password", SECRET_VALUE.encode())
    run = Background(double, "rec-job", x=1)
    wait_for(lambda: Run.get(run.name).cluster_objects() if st.run_exists(run.name) else None, "the Job's record")
    (obj,) = Run.get(run.name).cluster_objects()
    assert obj["kind"] == "Job" and obj["pods"] == f"job-name={obj['name']}"
    # The selector the record gives `kubectl logs -l` selects the pod the Job controller made.
    pods = wait_for(
        lambda: client.CoreV1Api(core_api).list_namespaced_pod(NAMESPACE, label_selector=obj["pods"]).items,
        "the Job controller to create the Pod",
    )
    (pod,) = pods
    wait_for(lambda: action_phase(run.name) == "RUNNING", "the Job's status to mark the action RUNNING")
    status = {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": pod.spec.containers[0].name,
                "ready": False,
                "restartCount": 0,
                "image": "x",
                "imageID": "",
                "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        ],
    }
    client.CoreV1Api(core_api).patch_namespaced_pod_status(pod.metadata.name, NAMESPACE, {"status": status})
    run.end()
    recorded = Run.get(run.name)
    assert recorded.phase == "FAILED" and "BackoffLimitExceeded" in recorded.error

    kept = Path(obj["manifest"]).read_text()
    assert "secretKeyRef" in kept and "db_password" in kept  # the object refers to the secret
    secret_files = {p for p in (flyte_home / "secrets").rglob("*") if p.is_file()}
    for path in flyte_home.rglob("*"):
        if path.is_file() and path not in secret_files:
            assert SECRET_VALUE.encode() not in path.read_bytes(), path
