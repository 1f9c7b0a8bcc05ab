"""Elastic/RunPolicy validation, the TaskSpec round trip, discovery, and the rendered PyTorchJob."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from kubernetes.client import V1Container, V1PodSpec, V1Toleration

import flyte
from flyte.plugins import PluginRegistry, use_registry
from flyteplugins.pytorch.task import Elastic, RunPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import render_valid


def test_defaults_match_the_reference_plugin():
    e = Elastic(nnodes=1, nproc_per_node=1)
    assert (e.rdzv_backend, e.run_policy, e.monitor_interval, e.max_restarts) == ("c10d", None, 3, 3)
    assert e.rdzv_configs == {"timeout": 900, "join_timeout": 900}
    assert (e.nccl_heartbeat_timeout_sec, e.nccl_async_error_handling) == (300, False)
    assert (e.nccl_collective_timeout_sec, e.nccl_enable_monitoring) == (None, True)
    assert Elastic(nnodes="2:4", nproc_per_node=8).node_range == (2, 4)
    assert Elastic(nnodes="3", nproc_per_node=1).node_range == (3, 3)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"nnodes": 0, "nproc_per_node": 1}, "Elastic.nnodes"),
        ({"nnodes": "4:2", "nproc_per_node": 1}, "Elastic.nnodes"),
        ({"nnodes": "two", "nproc_per_node": 1}, "Elastic.nnodes"),
        ({"nnodes": True, "nproc_per_node": 1}, "Elastic.nnodes"),
        ({"nnodes": 1, "nproc_per_node": 0}, "Elastic.nproc_per_node"),
        ({"nnodes": 1, "nproc_per_node": 1, "rdzv_backend": "zeus"}, "Elastic.rdzv_backend"),
        ({"nnodes": 1, "nproc_per_node": 1, "max_restarts": -1}, "Elastic.max_restarts"),
        ({"nnodes": 1, "nproc_per_node": 1, "monitor_interval": 0}, "Elastic.monitor_interval"),
        ({"nnodes": 1, "nproc_per_node": 1, "rdzv_configs": {"timeout": [1]}}, "Elastic.rdzv_configs"),
        ({"nnodes": 1, "nproc_per_node": 1, "run_policy": {"backoff_limit": 1}}, "Elastic.run_policy"),
        ({"nnodes": 1, "nproc_per_node": 1, "nccl_heartbeat_timeout_sec": 0}, "Elastic.nccl_heartbeat_timeout_sec"),
        ({"nnodes": 1, "nproc_per_node": 1, "nccl_async_error_handling": "yes"}, "Elastic.nccl_async_error_handling"),
    ],
)
def test_bad_elastic_settings_name_the_parameter_and_what_is_accepted(kwargs, param):
    with pytest.raises(ValueError, match="accepted") as info:
        Elastic(**kwargs)
    assert str(info.value).startswith(param)


def test_run_policy_values():
    assert RunPolicy(clean_pod_policy="all").clean_pod_policy == "All"
    assert RunPolicy(clean_pod_policy="Running").clean_pod_policy == "Running"
    assert RunPolicy(clean_pod_policy="None").clean_pod_policy == "None"
    with pytest.raises(ValueError, match=r"RunPolicy.clean_pod_policy: 'sometimes'.*accepted"):
        RunPolicy(clean_pod_policy="sometimes")
    with pytest.raises(ValueError, match="RunPolicy.backoff_limit"):
        RunPolicy(backoff_limit=-2)
    with pytest.raises(ValueError, match="RunPolicy.active_deadline_seconds"):
        RunPolicy(active_deadline_seconds=0)


def full_config() -> Elastic:
    return Elastic(
        nnodes="2:4",
        nproc_per_node=2,
        max_restarts=5,
        rdzv_configs={"timeout": 600, "join_timeout": 300, "use_agent_store": False},
        run_policy=RunPolicy(clean_pod_policy="running", ttl_seconds_after_finished=120, backoff_limit=4),
        nccl_async_error_handling=True,
        nccl_collective_timeout_sec=120,
    )


def test_config_round_trips_through_the_spec_converter():
    env = flyte.TaskEnvironment(name="torch_rt", plugin_config=full_config())

    @env.task
    def train() -> None: ...

    data = json.loads(json.dumps(train.spec.to_dict()))
    back = flyte.TaskSpec.from_dict(data)
    assert back == train.spec and back.plugin_config == full_config()


def test_flyte_plugins_lists_pytorch_and_elastic(fresh_registry):
    infos = {i.name: i for i in fresh_registry.infos()}
    assert infos["pytorch"].distribution == "flyteplugins-pytorch"
    assert "flyteplugins.pytorch.task.Elastic" in infos["pytorch"].config_types
    from flyte.cli.main import build_cli

    result = CliRunner().invoke(build_cli(), ["plugins"])
    assert result.exit_code == 0 and "pytorch" in result.output and "Elastic" in result.output


def test_without_the_plugin_the_config_fails_with_the_install_hint():
    with use_registry(PluginRegistry(only=[])), pytest.raises(TypeError, match="pip install flyteplugins-pytorch"):
        flyte.TaskEnvironment(name="no_torch", plugin_config=Elastic(nnodes=1, nproc_per_node=1))


def test_the_rendered_pytorchjob_validates_and_carries_every_setting(tmp_path):
    env = flyte.TaskEnvironment(
        name="torch_render",
        plugin_config=full_config(),
        image=flyte.Image.from_debian_base(name="train", registry="ghcr.io/acme").with_pip_packages("torch"),
        resources=flyte.Resources(cpu=(2, 4), memory="8Gi", gpu="A100:2"),
        env_vars={"A": "1", "TORCH_NCCL_HEARTBEAT_TIMEOUT_SEC": "60"},
        secrets=[flyte.Secret("wandb", as_env_var="WANDB_API_KEY")],
        pod_template=flyte.PodTemplate(
            pod_spec=V1PodSpec(
                containers=[V1Container(name="pytorch")], tolerations=[V1Toleration(key="gpu", operator="Exists")]
            ),
            primary_container_name="pytorch",
            labels={"team": "ml"},
        ),
    )

    @env.task(retries=2, timeout=3600)
    def train(epochs: int = 3) -> float:
        return 0.0

    job = render_valid(train, tmp_path)
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    spec = job["spec"]
    assert spec["nprocPerNode"] == "2"
    assert spec["elasticPolicy"] == {
        "rdzvBackend": "c10d",
        "rdzvId": job["metadata"]["name"],
        "minReplicas": 2,
        "maxReplicas": 4,
        "nProcPerNode": 2,
        "maxRestarts": 5,
        "rdzvConf": [
            {"key": "join_timeout", "value": "300"},
            {"key": "timeout", "value": "600"},
            {"key": "use_agent_store", "value": "false"},
        ],
    }
    # RunPolicy wins over what the task's retries/timeout would give.
    assert spec["runPolicy"] == {
        "cleanPodPolicy": "Running",
        "ttlSecondsAfterFinished": 120,
        "activeDeadlineSeconds": 3600,
        "backoffLimit": 4,
    }
    worker = spec["pytorchReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 4 and worker["restartPolicy"] == "OnFailure"
    pod = worker["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "pytorch" and container["image"].startswith("ghcr.io/acme/train:")
    assert container["command"][:3] == ["python", "-m", "flyte.entrypoint"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["TORCH_NCCL_HEARTBEAT_TIMEOUT_SEC"]["value"] == "60"  # the task's own value wins
    assert env_vars["TORCH_NCCL_ASYNC_ERROR_HANDLING"]["value"] == "1"
    assert env_vars["TORCH_NCCL_ENABLE_MONITORING"]["value"] == "1"
    assert env_vars["FLYTE_NCCL_COLLECTIVE_TIMEOUT_SEC"]["value"] == "120"
    assert "valueFrom" in env_vars["WANDB_API_KEY"] and "value" not in env_vars["WANDB_API_KEY"]
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert worker["template"]["metadata"]["labels"]["team"] == "ml"
    assert "restartPolicy" not in pod and "activeDeadlineSeconds" not in pod


def test_override_changes_the_rendered_job(tmp_path):
    env = flyte.TaskEnvironment(name="torch_small", plugin_config=Elastic(nnodes=1, nproc_per_node=1))

    @env.task
    def train() -> None: ...

    before = render_valid(train, tmp_path)
    after = render_valid(train.override(plugin_config=Elastic(nnodes=3, nproc_per_node=4, max_restarts=0)), tmp_path)
    assert before["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    assert after["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    assert after["spec"]["nprocPerNode"] == "4" and after["spec"]["elasticPolicy"]["maxRestarts"] == 0
    assert before["spec"]["pytorchReplicaSpecs"]["Worker"]["restartPolicy"] == "Never"  # no retries
    assert train.spec.plugin_config.nnodes == 1  # the original task is unchanged


def test_override_refuses_a_config_no_plugin_handles():
    env = flyte.TaskEnvironment(name="torch_bad", plugin_config=Elastic(nnodes=1, nproc_per_node=1))

    @env.task
    def train() -> None: ...

    with pytest.raises(TypeError, match="plugin_config"):
        train.override(plugin_config={"nnodes": 2})


def test_the_readme_example_renders(tmp_path):
    from importlib import util

    path = Path(__file__).resolve().parents[3] / "examples" / "torch_ddp.py"
    spec = util.spec_from_file_location("torch_ddp_example", path)
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    job = render_valid(module.train, tmp_path)
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2


@pytest.mark.slow
def test_the_plugin_readme_example_runs_as_written(tmp_path):
    import os
    import re
    import subprocess

    readme = (Path(__file__).resolve().parents[3] / "plugins" / "pytorch" / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "quickstart.py").write_text(code)
    result = subprocess.run(
        [sys.executable, "quickstart.py"],
        cwd=tmp_path,
        env={**os.environ, "FLYTE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "{'rank': 0, 'world': 2, 'sum': 4.5}"
