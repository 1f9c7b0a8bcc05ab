"""Ray configuration: validation, the TaskSpec round trip, discovery, and the rendered RayJob."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes.client import V1Container, V1PodSpec, V1Toleration

import flyte
from flyte.plugins import PluginRegistry, use_registry
from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import render_valid


def full_config() -> RayJobConfig:
    head_pod = flyte.PodTemplate(
        pod_spec=V1PodSpec(
            containers=[V1Container(name="ray-head")], tolerations=[V1Toleration(key="head", operator="Exists")]
        ),
        primary_container_name="ray-head",
        labels={"role": "head"},
    )
    return RayJobConfig(
        head_node_config=HeadNodeConfig(
            ray_start_params={"num-cpus": 0, "log-color": True},
            pod_template=head_pod,
            requests=flyte.Resources(cpu=1, memory="2Gi"),
            limits=flyte.Resources(cpu=2, memory="4Gi"),
        ),
        worker_node_config=[
            WorkerNodeConfig(
                group_name="cpu-workers",
                replicas=2,
                min_replicas=1,
                max_replicas=5,
                ray_start_params={"num-cpus": "4"},
                requests=flyte.Resources(cpu=4, memory="8Gi"),
            ),
            WorkerNodeConfig(group_name="gpu-workers", replicas=1, limits=flyte.Resources(gpu="T4:1", cpu=8)),
        ],
        enable_autoscaling=True,
        autoscaler_options={"idle_timeout_seconds": 60, "upscalingMode": "Default"},
        runtime_env={"pip": ["numpy"], "env_vars": {"MODE": "x"}},
        shutdown_after_job_finishes=True,
        ttl_seconds_after_finished=300,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"group_name": "w", "replicas": 5, "max_replicas": 3}, "replicas: 5 is out of range"),
        ({"group_name": "w", "replicas": 1, "min_replicas": 2}, "replicas: 1 is out of range"),
        ({"group_name": "Bad_Name", "replicas": 1}, "group_name: 'Bad_Name'"),
        ({"group_name": "w", "replicas": -1}, "replicas: -1"),
    ],
)
def test_worker_groups_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WorkerNodeConfig(**kwargs)


def test_job_config_is_validated():
    with pytest.raises(ValueError, match="is used twice"):
        RayJobConfig(worker_node_config=[WorkerNodeConfig(group_name="w"), WorkerNodeConfig(group_name="w")])
    with pytest.raises(TypeError, match="worker_node_config"):
        RayJobConfig(worker_node_config=["w"])
    with pytest.raises(ValueError, match="autoscaler_options: 'idle' is not an autoscaler option"):
        RayJobConfig(worker_node_config=[], autoscaler_options={"idle": 1})
    with pytest.raises(TypeError, match="HeadNodeConfig.requests"):
        HeadNodeConfig(requests={"cpu": 1})
    assert RayJobConfig(worker_node_config=WorkerNodeConfig(group_name="one")).worker_node_config[0].group_name == "one"


@pytest.mark.parametrize("flag", ["enable_autoscaling", "shutdown_after_job_finishes"])
def test_a_flag_that_is_not_a_bool_is_named(flag):
    # Not attrs' raw ("'x' must be <class 'bool'>", Attribute(...)) tuple: a truthy "no" is refused.
    with pytest.raises(TypeError) as raised:
        RayJobConfig(worker_node_config=[], **{flag: "no"})
    assert str(raised.value) == f"RayJobConfig.{flag}: expected True or False, got 'no'"


def test_config_round_trips_through_the_spec_converter():
    env = flyte.TaskEnvironment(name="ray_rt", plugin_config=full_config())

    @env.task
    async def t(x: int) -> int:
        return x

    data = json.loads(json.dumps(t.spec.to_dict()))
    back = flyte.TaskSpec.from_dict(data)
    assert back == t.spec and back.plugin_config == full_config()


def test_flyte_plugins_lists_ray_and_its_config_type(fresh_registry):
    infos = {i.name: i for i in fresh_registry.infos()}
    assert infos["ray"].distribution == "flyteplugins-ray"
    assert "flyteplugins.ray.task.RayJobConfig" in infos["ray"].config_types


def test_without_the_plugin_the_config_fails_with_the_install_hint():
    with use_registry(PluginRegistry(only=[])), pytest.raises(TypeError, match="pip install flyteplugins-ray"):
        flyte.TaskEnvironment(name="no_ray", plugin_config=RayJobConfig(worker_node_config=[]))


def test_the_rendered_rayjob_validates_and_carries_every_setting(tmp_path):
    env = flyte.TaskEnvironment(
        name="ray_render",
        plugin_config=full_config(),
        image=flyte.Image.from_debian_base(name="ray", registry="ghcr.io/acme").with_pip_packages("ray[default]"),
        resources=flyte.Resources(cpu=(1, 2), memory="3Gi"),
        env_vars={"A": "1"},
        secrets=[flyte.Secret("token", as_env_var="TOKEN")],
    )

    @env.task(retries=2, timeout=600)
    async def compute(n: int = 3) -> int:
        return n

    job = render_valid(compute, tmp_path)
    spec = job["spec"]
    assert job["kind"] == "RayJob" and job["apiVersion"] == "ray.io/v1"
    assert spec["entrypoint"].startswith("python -m flyte.entrypoint --module")
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] == 300
    assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 600
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["pip"] == ["numpy"] and runtime_env["env_vars"]["MODE"] == "x"
    assert json.loads(runtime_env["env_vars"]["FLYTE_INPUTS"]) == {"n": 3}
    cluster = spec["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["autoscalerOptions"] == {"idleTimeoutSeconds": 60, "upscalingMode": "Default"}
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "0", "log-color": "true"}
    head_pod = head["template"]["spec"]
    head_container = head_pod["containers"][0]
    assert head_container["name"] == "ray-head" and "command" not in head_container
    assert head_container["image"].startswith("ghcr.io/acme/ray:")
    assert head_container["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert head_pod["tolerations"] == [{"key": "head", "operator": "Exists"}]
    assert head["template"]["metadata"]["labels"]["role"] == "head"
    env_names = {e["name"] for e in head_container["env"]}
    assert {"A", "TOKEN", "FLYTE_INPUTS"} <= env_names
    cpu, gpu = cluster["workerGroupSpecs"]
    assert (cpu["groupName"], cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == ("cpu-workers", 2, 1, 5)
    assert cpu["template"]["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "4", "memory": "8Gi"}
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    worker = cpu["template"]["spec"]["containers"][0]
    assert worker["name"] == "ray-worker" and worker["resources"].get("limits") is None


def test_override_changes_the_rendered_cluster(tmp_path):
    env = flyte.TaskEnvironment(
        name="ray_small", plugin_config=RayJobConfig(worker_node_config=[WorkerNodeConfig(group_name="w", replicas=1)])
    )

    @env.task
    async def t() -> None: ...

    before = render_valid(t, tmp_path)
    after = render_valid(t.override(resources=flyte.Resources(cpu=8, memory="16Gi")), tmp_path)
    head_res = after["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]
    assert head_res["limits"] == {"cpu": "8", "memory": "16Gi"}
    assert "resources" not in before["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]


def test_the_guide_example_renders(tmp_path):
    ray_config = RayJobConfig(
        head_node_config=HeadNodeConfig(ray_start_params={"log-color": "True"}),
        worker_node_config=[WorkerNodeConfig(group_name="ray-workers", replicas=2)],
        runtime_env={"pip": ["numpy", "pandas"]},
        enable_autoscaling=False,
        shutdown_after_job_finishes=True,
        ttl_seconds_after_finished=300,
    )
    image = flyte.Image.from_debian_base(name="ray").with_pip_packages("ray[default]==2.46.0", "flyteplugins-ray")
    ray_env = flyte.TaskEnvironment(
        name="ray_env",
        plugin_config=ray_config,
        image=image,
        resources=flyte.Resources(cpu=(3, 4), memory=("3000Mi", "5000Mi")),
    )

    @ray_env.task
    async def distributed_compute(n: int = 10) -> list[int]:
        return []

    job = render_valid(distributed_compute, tmp_path)
    assert job["metadata"]["name"] == "ray-env-distributed-compute"


@pytest.mark.parametrize(
    "resources, sizing",
    [
        (flyte.Resources(cpu=0.5, gpu="A100:2"), {"num_cpus": 1, "num_gpus": 2}),
        (flyte.Resources(cpu=(1, "2500m"), gpu=3), {"num_cpus": 3, "num_gpus": 3}),
        (flyte.Resources(gpu=flyte.TPU("V5P", "2x2x1")), {}),  # Ray's num_gpus counts GPUs only
    ],
)
def test_the_local_ray_is_sized_from_the_canonical_resources(resources, sizing):
    from flyteplugins.ray import _runner

    env = flyte.TaskEnvironment(
        name="ray_sizing", resources=resources, plugin_config=RayJobConfig(worker_node_config=[])
    )

    @env.task
    def sized(x: int) -> int:
        return x

    assert _runner._sizing(sized.spec) == sizing
