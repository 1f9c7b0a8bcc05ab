"""Every rendered object of every plugin is accepted by a real API server: a server-side
dry-run with strict field validation (custom resources on the CRD server, batch objects on
the core server), and nothing is dropped except fields the core server's release predates."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from cluster.kubeapi import NAMESPACE, call
from flyte.render.context import RenderContext
from flyte.render.render import render_environment

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
# Fields newer than kube-apiserver 1.20, which it prunes silently (it has no strict field
# validation): CronJob.spec.timeZone (1.27 GA) and Job.spec.podFailurePolicy (1.26).
NEWER_THAN_1_20 = ("timeZone", "podFailurePolicy")

TASKS = textwrap.dedent("""
    from datetime import datetime, timedelta
    import flyte
    from kubernetes.client import V1Container, V1PodSpec, V1Volume, V1VolumeMount, V1EmptyDirVolumeSource
    from flyteplugins.pytorch.task import Elastic, RunPolicy
    from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

    sidecar = flyte.PodTemplate(
        primary_container_name="primary",
        labels={"team": "ml"},
        annotations={"example.com/owner": "ml-team"},
        pod_spec=V1PodSpec(
            containers=[
                V1Container(name="primary", volume_mounts=[V1VolumeMount(name="scratch", mount_path="/scratch")]),
                V1Container(name="logger", image="busybox:1.36", command=["sh", "-c", "sleep 3600"]),
            ],
            volumes=[V1Volume(name="scratch", empty_dir=V1EmptyDirVolumeSource())],
        ),
    )
    plain = flyte.TaskEnvironment(
        name="dry_plain",
        resources=flyte.Resources(cpu=(0.5, 2), memory=("512Mi", "1Gi"), disk="10Gi", gpu="A100:1", shm="auto"),
        env_vars={"STAGE": "test"},
        secrets=[flyte.Secret("api_key", as_env_var="API_KEY"), flyte.Secret("cert", group="tls", mount="/etc/flyte/secrets")],
        pod_template=sidecar,
        interruptible=True,
        queue="batch",
    )

    @plain.task(retries=2, timeout=flyte.Timeout(max_runtime=timedelta(minutes=5), deadline=timedelta(hours=1)),
                triggers=[flyte.Trigger("nightly", flyte.Cron("0 2 * * *", timezone="Europe/Berlin"), inputs={"day": flyte.TriggerTime}),
                          flyte.Trigger("hourly-utc", flyte.Cron("0 * * * *"), inputs={"day": flyte.TriggerTime}),
                          flyte.Trigger("every-15", flyte.FixedRate(15), inputs={"day": flyte.TriggerTime}, auto_activate=False)])
    def report(day: datetime | None = None, n: int = 3) -> int:
        return n

    ray_env = flyte.TaskEnvironment(
        name="dry_ray",
        plugin_config=RayJobConfig(
            head_node_config=HeadNodeConfig(ray_start_params={"num-cpus": 1}, requests=flyte.Resources(cpu=1, memory="2Gi")),
            worker_node_config=[WorkerNodeConfig(group_name="small", replicas=2, min_replicas=1, max_replicas=4),
                                WorkerNodeConfig(group_name="big", replicas=1, limits=flyte.Resources(cpu=4, memory="8Gi"))],
            enable_autoscaling=True,
            autoscaler_options={"idle_timeout_seconds": 60, "upscaling_mode": "Default"},
            runtime_env={"pip": ["requests"], "env_vars": {"A": "1"}},
            shutdown_after_job_finishes=True,
            ttl_seconds_after_finished=300,
        ),
        resources=flyte.Resources(cpu=2, memory="4Gi"),
        env_vars={"RAY_MODE": "test"},
    )

    @ray_env.task(retries=1, timeout=600)
    def squares(n: int = 4) -> int:
        return n

    torch_env = flyte.TaskEnvironment(
        name="dry_torch",
        plugin_config=Elastic(nnodes="1:3", nproc_per_node=2, run_policy=RunPolicy(clean_pod_policy="all", ttl_seconds_after_finished=60)),
        resources=flyte.Resources(cpu=2, memory="4Gi", gpu=1),
    )

    @torch_env.task(retries=2, timeout=3600)
    def train(epochs: int = 1) -> float:
        return 0.0

    single = flyte.TaskEnvironment(name="dry_torch_single", plugin_config=Elastic(nnodes=1, nproc_per_node=1))

    @single.task
    def train_one() -> float:
        return 0.0

    from flyte.clustered import ClusteredTaskEnvironment, ClusterFailurePolicy, JaxRun, TorchRun

    ddp = ClusteredTaskEnvironment(
        name="dry_ddp", replicas=3, nproc_per_node=2, runtime=TorchRun(rdzv_backend="c10d", max_restarts=1),
        failure_policy=ClusterFailurePolicy(max_restarts=2), ttl_seconds_after_finished=120,
        resources=flyte.Resources(cpu=2, memory="4Gi", gpu=2), env_vars={"NCCL_DEBUG": "INFO"},
        secrets=[flyte.Secret("api_key", as_env_var="API_KEY"), flyte.Secret("cert", group="tls", mount="/etc/flyte/secrets")],
        pod_template=sidecar, interruptible=True, queue="gpu",
    )

    @ddp.task(retries=1, timeout=flyte.Timeout(max_runtime=timedelta(hours=2), deadline=timedelta(hours=6)))
    def fit(epochs: int = 1) -> float:
        return 0.0

    jax_env = ClusteredTaskEnvironment(
        name="dry_jax", replicas=2, nproc_per_node=1, runtime=JaxRun(),
        failure_policy=ClusterFailurePolicy(max_restarts=1, restart_on_host_maintenance=True),
    )

    @jax_env.task
    def fit_jax() -> float:
        return 0.0
""")


def rendered() -> list[tuple[str, dict[str, Any]]]:
    """(where it comes from, object) for the test's tasks and every example's environments."""
    import tempfile

    from flyte._loader import load_file
    from flyte.environment import TaskEnvironment

    folder = Path(tempfile.mkdtemp(prefix="dry-run-"))
    (folder / "dry_run_tasks.py").write_text(TASKS)
    objects = []
    for path in [folder / "dry_run_tasks.py", *sorted((REPO / "examples").glob("*.py"))]:
        module = load_file(path)
        envs = {id(v): v for v in vars(module).values() if isinstance(v, TaskEnvironment)}
        for env in envs.values():
            for obj in render_environment(env, RenderContext()):
                objects.append((f"{path.name}:{env.name}", obj))
    return objects


def served(api: Any, api_version: str, kind: str) -> tuple[str, bool] | None:
    """(plural, namespaced) of a kind the server serves at that version, else None."""
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    status, data = call(api, "GET", base)
    if status != 200:
        return None
    for resource in data.get("resources", []):
        if resource["kind"] == kind and "/" not in resource["name"]:
            return resource["name"], resource["namespaced"]
    return None


def dropped(sent: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(sent, dict) and isinstance(got, dict):
        out = []
        for key, value in sent.items():
            here = f"{path}.{key}" if path else key
            out += [here] if key not in got else dropped(value, got[key], here)
        return out
    if isinstance(sent, list) and isinstance(got, list) and len(sent) == len(got):
        return [p for i, (a, b) in enumerate(zip(sent, got, strict=True)) for p in dropped(a, b, f"{path}[{i}]")]
    return []


def dry_run(api: Any, obj: dict[str, Any]) -> tuple[int, Any, str]:
    """Server-side dry-run with strict field validation: (status, body, the apiVersion used).
    A CronJob goes to batch/v1beta1 where batch/v1 is not served (kube-apiserver 1.20)."""
    api_version = obj["apiVersion"]
    found = served(api, api_version, obj["kind"])
    if found is None and (api_version, obj["kind"]) == ("batch/v1", "CronJob"):
        api_version = "batch/v1beta1"
        found = served(api, api_version, obj["kind"])
    assert found is not None, f"the server serves no {obj['apiVersion']} {obj['kind']}"
    plural, namespaced = found
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    path = f"{base}/namespaces/{NAMESPACE}/{plural}" if namespaced else f"{base}/{plural}"
    body = {**obj, "apiVersion": api_version, "metadata": {**obj["metadata"], "namespace": NAMESPACE}}
    status, data = call(api, "POST", path, body, [("dryRun", "All"), ("fieldValidation", "Strict")])
    return status, data, api_version


def test_every_rendered_object_is_accepted_by_the_api_server(crd_api, core_api):
    objects = rendered()
    kinds = {obj["kind"] for _, obj in objects}
    assert {"Job", "CronJob", "RayJob", "PyTorchJob", "JobSet"} <= kinds
    problems = []
    for origin, obj in objects:
        custom = "." in obj["apiVersion"].rpartition("/")[0]  # ray.io, jobset.x-k8s.io: an operator's group
        status, data, used = dry_run(crd_api if custom else core_api, obj)
        name = f"{origin} {obj['kind']}/{obj['metadata']['name']}"
        if status >= 300:
            problems.append(f"{name}: REJECTED {status}: {data.get('message') if isinstance(data, dict) else data}")
            continue
        lost = [p for p in dropped(obj, data) if not p.rsplit(".", 1)[-1].startswith(NEWER_THAN_1_20)]
        if lost:
            problems.append(f"{name}: accepted as {used}, but the server dropped {lost}")
    assert not problems, "\n".join(problems)


def test_the_server_rejects_what_the_validator_rejects(crd_api):
    """A negative control: the dry-run is strict, so the acceptance above means something."""
    (_, job) = next((o, obj) for o, obj in rendered() if obj["kind"] == "RayJob")
    job["spec"]["entrypont"] = "typo"
    status, data, _ = dry_run(crd_api, job)
    assert status == 400 and "entrypont" in data["message"]


def test_the_server_rejects_a_jobset_the_validator_rejects(crd_api):
    """The same for the JobSet CRD: an unknown field, and a value its schema refuses."""
    from kubeschema.validate import validate

    (_, jobset) = next((o, obj) for o, obj in rendered() if obj["kind"] == "JobSet")
    typo = {**jobset, "spec": {**jobset["spec"], "failurPolicy": {"maxRestarts": 1}}}
    status, data, _ = dry_run(crd_api, typo)
    assert status == 400 and "failurPolicy" in data["message"]
    assert any("failurPolicy" in p for p in validate(typo))
    bad = {**jobset, "spec": {**jobset["spec"], "startupPolicy": {"startupPolicyOrder": "Whenever"}}}
    status, data, _ = dry_run(crd_api, bad)
    assert status == 422 and "startupPolicyOrder" in data["message"]
    assert any("startupPolicyOrder" in p for p in validate(bad))
