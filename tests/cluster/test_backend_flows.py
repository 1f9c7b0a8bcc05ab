"""The Kubernetes backend against a real API server (``flyte.init_from_config`` with a
``kubernetes:`` section): it creates the task's object, follows it with a watch, reads the
operator's status (the test plays the operator and the pods), fetches the outputs, reports a
failure with the operator's message and the object's events, and deletes the object (with its
pods) on cancel, on ``timeout.deadline`` and on Ctrl-C."""

from __future__ import annotations

import json
import logging
import signal
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import flyte
from cluster.kubeapi import CORE_CONTEXT, CRD_CONTEXT, NAMESPACE, cluster_config, wait_for
from flyte.kube import backend
from flyte.kube.backend import ClusterRunError

pytestmark = pytest.mark.cluster

RAY = ("ray.io", "v1", "rayjobs")


def ray_env(name: str, **settings: Any) -> flyte.TaskEnvironment:
    from flyteplugins.ray.task import RayJobConfig, WorkerNodeConfig

    config = RayJobConfig(worker_node_config=[WorkerNodeConfig(group_name="workers")], shutdown_after_job_finishes=True)
    return flyte.TaskEnvironment(name=name, plugin_config=config, **settings)


env = ray_env("live_ray")
deadline_env = ray_env("live_ray_deadline")
plain = flyte.TaskEnvironment(name="live_plain")


@env.task
def add(a: int, b: int) -> int:
    return a + b


@deadline_env.task(timeout=flyte.Timeout(deadline=timedelta(seconds=3)))
def forever() -> int:
    return 0


@plain.task(retries=0)
def double(x: int) -> int:
    return 2 * x


def unique(name: str) -> str:
    """A run name no earlier test session used (objects of failed runs stay on the server)."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


class Run:
    """``flyte.run`` on a thread, so the test can play the operator meanwhile."""

    def __init__(self, task: Any, name: str, run_settings: dict[str, Any] | None = None, **inputs: Any):
        self.name = unique(name)
        self.run_settings = run_settings or {}
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(task, inputs), daemon=True)
        self.thread.start()

    def _run(self, task: Any, inputs: dict[str, Any]) -> None:
        try:
            self.result = flyte.with_runcontext(name=self.name, **self.run_settings).run(task, **inputs)
        except BaseException as exc:
            self.error = exc

    def outcome(self) -> Any:
        wait_for(lambda: not self.thread.is_alive(), f"run {self.name} to end", timeout=300)
        return self.result


def custom(api: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(api)


def find_rayjob(api: Any, run_name: str) -> dict[str, Any] | None:
    items = custom(api).list_namespaced_custom_object(*RAY[:2], NAMESPACE, RAY[2])["items"]
    return next((i for i in items if i["metadata"]["name"].endswith(run_name)), None)


def outputs_uri(obj: dict[str, Any]) -> str:
    return backend.outputs_uri(obj)


def play_operator(api: Any, obj: dict[str, Any], status: dict[str, Any]) -> None:
    custom(api).patch_namespaced_custom_object_status(
        *RAY[:2], NAMESPACE, RAY[2], obj["metadata"]["name"], {"status": status}
    )


@pytest.fixture
def on_crd_server(tmp_path):
    storage = tmp_path / "storage"
    flyte.init_from_config(cluster_config(tmp_path, CRD_CONTEXT, storage))
    yield storage
    flyte.init()


def test_a_rayjob_is_created_watched_and_its_outputs_returned(crd_api, on_crd_server, caplog):
    caplog.set_level(logging.INFO, logger="flyte.kube")
    run = Run(add, "watch-ok", a=2, b=3)
    job = wait_for(lambda: find_rayjob(crd_api, run.name), "the RayJob to be created")
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    play_operator(crd_api, job, {"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"})
    out = Path(outputs_uri(job))  # the pod writes the result where the object says
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(5))
    play_operator(crd_api, job, {"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"})
    result = run.outcome()
    assert run.error is None, run.error
    assert result.outputs() == 5 and result.phase == "SUCCEEDED"
    assert "watch failed" not in caplog.text  # followed by a watch, not by polling


def test_a_runs_context_reaches_its_pods_under_the_tasks_own_settings(crd_api, on_crd_server):
    settings = {
        "service_account": "ray-runner",
        "env_vars": {"RUN_FLAG": "1"},
        "custom_context": {"team": "finance"},
        "max_action_concurrency": 3,
    }
    run = Run(add, "run-context", run_settings=settings, a=1, b=1)
    job = wait_for(lambda: find_rayjob(crd_api, run.name), "the RayJob to be created")
    cluster = job["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"], *(g["template"]["spec"] for g in cluster["workerGroupSpecs"])]
    assert {pod.get("serviceAccountName") for pod in pods} == {"ray-runner"}
    for pod in pods:  # what the entrypoint reads (flyte.entrypoint), in every container of the task
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["RUN_FLAG"] == "1" and env["FLYTE_MAX_ACTION_CONCURRENCY"] == "3"
        assert json.loads(env["FLYTE_CUSTOM_CONTEXT"]) == {"team": "finance"}
    backend.cancel(run.name)
    run.outcome()
    own = Run(
        add.override(service_account="task-own"),
        "task-identity",
        run_settings={"service_account": "ray-runner"},
        a=1,
        b=1,
    )
    job = wait_for(lambda: find_rayjob(crd_api, own.name), "the RayJob to be created")
    assert job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] == "task-own"
    backend.cancel(own.name)
    own.outcome()


def test_a_broken_watch_falls_back_to_polling_with_backoff(crd_api, on_crd_server, caplog):
    from flyte.kube.resource import KubeResource

    caplog.set_level(logging.INFO, logger="flyte.kube")
    run = Run(add, "watch-fallback", a=1, b=1)
    job = wait_for(lambda: find_rayjob(crd_api, run.name), "the RayJob to be created")
    resource = KubeResource(crd_api, job, NAMESPACE)
    stop = threading.Event()
    seen = []

    def follow() -> None:  # an impossible resource version: the watch cannot open
        for obj in resource.follow("not-a-version", stop=stop.is_set):
            seen.append(obj.get("status") or {})
            if (obj.get("status") or {}).get("jobStatus") == "RUNNING":
                stop.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    wait_for(lambda: "watch failed" in caplog.text, "the watch to fail")
    play_operator(crd_api, job, {"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"})
    wait_for(lambda: not follower.is_alive(), "polling to see the RUNNING status")
    assert seen[-1]["jobStatus"] == "RUNNING"
    backend.cancel(run.name)
    run.outcome()


def test_a_failure_reports_the_operators_message(crd_api, on_crd_server):
    run = Run(add, "fails", a=1, b=2)
    job = wait_for(lambda: find_rayjob(crd_api, run.name), "the RayJob to be created")
    play_operator(
        crd_api,
        job,
        {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "reason": "AppFailed", "message": "division by zero"},
    )
    run.outcome()
    assert isinstance(run.error, ClusterRunError)
    assert "failed: AppFailed: division by zero" in str(run.error) and "kubectl describe rayjob" in str(run.error)


def test_cancel_deletes_the_object(crd_api, on_crd_server):
    from flyte.errors import ActionAbortedError

    run = Run(add, "cancelled", a=1, b=2)
    wait_for(lambda: find_rayjob(crd_api, run.name), "the RayJob to be created")
    assert backend.cancel(run.name)
    run.outcome()
    assert isinstance(run.error, ActionAbortedError)
    assert find_rayjob(crd_api, run.name) is None
    assert not backend.cancel(run.name)  # nothing left to cancel


def test_an_abort_requested_by_another_process_deletes_the_object(crd_api, on_crd_server):
    from flyte.errors import ActionAbortedError

    run = Run(add, "aborted", a=1, b=2)
    wait_for(lambda: find_rayjob(crd_api, run.name), "the RayJob to be created")
    flyte.remote.Run.get(run.name).abort(reason="wrong cluster")  # what flyte abort run NAME does
    run.outcome()
    assert isinstance(run.error, ActionAbortedError) and "wrong cluster" in str(run.error)
    assert find_rayjob(crd_api, run.name) is None
    recorded = flyte.remote.Run.get(run.name)
    assert recorded.phase == "ABORTED" and "wrong cluster" in recorded.error


def test_cancelling_the_await_of_run_aio_deletes_the_object(crd_api, on_crd_server):
    import asyncio

    name = unique("aio-cancelled")

    async def submit_then_cancel() -> None:
        running = asyncio.ensure_future(flyte.with_runcontext(name=name).run.aio(add, a=1, b=2))
        while not find_rayjob(crd_api, name):
            assert not running.done(), running
            await asyncio.sleep(0.05)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(submit_then_cancel())
    assert find_rayjob(crd_api, name) is None  # deleted before the cancelled await went on
    assert flyte.remote.Run.get(name).phase == "ABORTED"


def test_the_deadline_deletes_the_object(crd_api, on_crd_server):
    from flyte.errors import DeadlineExceededError

    run = Run(forever, "past-deadline")
    wait_for(lambda: find_rayjob(crd_api, run.name), "the RayJob to be created")
    run.outcome()  # nobody plays the operator: the deadline ends it
    assert isinstance(run.error, DeadlineExceededError) and "deleted" in str(run.error)
    assert find_rayjob(crd_api, run.name) is None


def test_ctrl_c_deletes_the_object(crd_api, on_crd_server):
    main = threading.main_thread().ident
    assert threading.get_ident() == main

    name = unique("interrupted")

    def interrupt_once_created() -> None:
        wait_for(lambda: find_rayjob(crd_api, name), "the RayJob to be created")
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt_once_created, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        flyte.with_runcontext(name=name).run(add, a=1, b=2)
    assert find_rayjob(crd_api, name) is None


def test_deleting_is_idempotent_and_never_orphans(crd_api):
    from flyte.kube.resource import PROPAGATION, KubeResource
    from flyte.render.context import RenderContext
    from flyte.render.render import render_task

    (body,) = render_task(add, RenderContext())
    body["metadata"]["name"] = unique("delete-twice")
    resource = KubeResource(crd_api, body, NAMESPACE)
    resource.create()
    assert resource.delete() is True
    assert resource.delete() is False  # already gone: no error
    assert PROPAGATION in ("Background", "Foreground")  # never Orphan: the pods must go too


# -- the core server: a plain task's Job, and the Pod its Job controller makes ---------------------


def job_pods(api: Any, job_name: str) -> list[Any]:
    from kubernetes import client

    return client.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector=f"job-name={job_name}").items


def find_job(api: Any, run_name: str) -> Any:
    from kubernetes import client

    jobs = client.BatchV1Api(api).list_namespaced_job(NAMESPACE).items
    return next((j for j in jobs if j.metadata.name.endswith(run_name)), None)


def play_kubelet(api: Any, pod: Any, exit_code: int) -> None:
    from kubernetes import client

    phase = "Succeeded" if exit_code == 0 else "Failed"
    state = {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}}
    container = {"name": pod.spec.containers[0].name, "ready": False, "restartCount": 0, "image": "x", "imageID": ""}
    status = {"phase": phase, "containerStatuses": [{**container, "state": state}]}
    client.CoreV1Api(api).patch_namespaced_pod_status(pod.metadata.name, NAMESPACE, {"status": status})


@pytest.fixture
def on_core_server(tmp_path):
    storage = tmp_path / "storage"
    flyte.init_from_config(cluster_config(tmp_path, CORE_CONTEXT, storage))
    yield storage
    flyte.init()


def test_a_plain_tasks_job_gets_its_pod_from_the_job_controller(core_api, on_core_server):
    run = Run(double, "plain-ok", x=21)
    job = wait_for(lambda: find_job(core_api, run.name), "the Job to be created")
    (pod,) = wait_for(lambda: job_pods(core_api, job.metadata.name), "the Job controller to create the Pod")
    container = pod.spec.containers[0]
    assert container.command[:3] == ["python", "-m", "flyte.entrypoint"]
    env = {e.name: e.value for e in container.env}
    out = Path(env["FLYTE_OUTPUTS_URI"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(42))  # what the entrypoint would write
    play_kubelet(core_api, pod, exit_code=0)
    result = run.outcome()
    assert run.error is None, run.error
    assert result.outputs() == 42


def test_a_failed_job_reports_the_controllers_message_and_events(core_api, on_core_server):
    run = Run(double, "plain-fails", x=1)
    job = wait_for(lambda: find_job(core_api, run.name), "the Job to be created")
    (pod,) = wait_for(lambda: job_pods(core_api, job.metadata.name), "the Job controller to create the Pod")
    play_kubelet(core_api, pod, exit_code=1)
    run.outcome()
    assert isinstance(run.error, ClusterRunError)
    text = str(run.error)
    assert "BackoffLimitExceeded" in text  # the Job controller's reason
    assert "events:" in text and "SuccessfulCreate" in text  # the Job's events


def test_cancelling_a_job_removes_its_pods(core_api, on_core_server):
    run = Run(double, "plain-cancel", x=1)
    job = wait_for(lambda: find_job(core_api, run.name), "the Job to be created")
    wait_for(lambda: job_pods(core_api, job.metadata.name), "the Job controller to create the Pod")
    assert backend.cancel(run.name)
    run.outcome()
    assert find_job(core_api, run.name) is None
    # Background propagation: the garbage collector deletes the Job's pods.
    wait_for(lambda: not job_pods(core_api, job.metadata.name), "the garbage collector to delete the Pod")


named_pod = flyte.TaskEnvironment(name="live_named_pod", pod_template="live-base")


@named_pod.task(retries=0)
def triple(x: int) -> int:
    return 3 * x


def create_live_base(api: Any) -> None:
    """The PodTemplate ``live-base`` in the test namespace (kept from an earlier session if there)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    template = {
        "metadata": {"name": "live-base"},
        "template": {
            "metadata": {"labels": {"team": "ml"}},
            "spec": {
                "containers": [
                    {"name": "primary", "image": "busybox", "env": [{"name": "FROM_TEMPLATE", "value": "1"}]}
                ],
                "volumes": [{"name": "scratch", "emptyDir": {}}],
            },
        },
    }
    try:
        client.CoreV1Api(api).create_namespaced_pod_template(NAMESPACE, template)
    except ApiException as exc:
        if exc.status != 409:  # left by an earlier session
            raise


def test_a_pod_template_named_by_the_task_is_read_from_the_namespace_and_merged(core_api, on_core_server):
    create_live_base(core_api)
    run = Run(triple, "named-template", x=5)
    job = wait_for(lambda: find_job(core_api, run.name), "the Job to be created")
    (pod,) = wait_for(lambda: job_pods(core_api, job.metadata.name), "the Job controller to create the Pod")
    assert pod.metadata.labels["team"] == "ml"
    assert [v.name for v in pod.spec.volumes if v.name == "scratch"] == ["scratch"]
    (container,) = pod.spec.containers
    assert {e.name: e.value for e in container.env}["FROM_TEMPLATE"] == "1"
    env = {e.name: e.value for e in container.env}
    out = Path(env["FLYTE_OUTPUTS_URI"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(15))
    play_kubelet(core_api, pod, exit_code=0)
    assert run.outcome().outputs() == 15, run.error


missing_pod = flyte.TaskEnvironment(name="live_missing_pod", pod_template="no-such-template")


@missing_pod.task(retries=0)
def never(x: int) -> int:
    return x


def test_a_pod_template_name_the_namespace_lacks_fails_the_run_before_anything_is_created(core_api, on_core_server):
    run = Run(never, "missing-template", x=1)
    run.outcome()
    assert "'no-such-template'" in str(run.error) and NAMESPACE in str(run.error)
    assert find_job(core_api, run.name) is None


def test_deploy_reads_a_named_pod_template_from_the_namespace(core_api, on_core_server):
    create_live_base(core_api)
    (deployment,) = flyte.deploy(named_pod)
    (job,) = deployment.objects
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert {"name": "scratch", "emptyDir": {}} in pod["spec"]["volumes"]
