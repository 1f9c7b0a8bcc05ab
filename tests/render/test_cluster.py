"""A live cluster run, when there is one (FLYTE_TEST_KUBECONTEXT names a kubeconfig context).

See the README's "Trying it on a cluster" for a kind or k3d setup.
"""

from __future__ import annotations

import os

import pytest

import flyte

pytestmark = pytest.mark.cluster

CONTEXT = os.environ.get("FLYTE_TEST_KUBECONTEXT")
STORAGE = os.environ.get("FLYTE_TEST_STORAGE")


def test_kubernetes_section_selects_the_cluster_backend(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("kubernetes:\n  context: nowhere\n  namespace: ml\n  storage: s3://bucket/flyte\n")
    flyte.init_from_config(config)
    assert "Kubernetes backend" in capsys.readouterr().err
    from flyte.runtime import settings

    assert settings.current().backend == "kubernetes"
    bad = tmp_path / "bad.yaml"
    bad.write_text("kubernetes:\n  namespce: ml\n")
    with pytest.raises(RuntimeError, match="namespce"):
        flyte.init_from_config(bad)
    flyte.init()


@pytest.mark.skipif(
    not (CONTEXT and STORAGE), reason="no cluster configured (set FLYTE_TEST_KUBECONTEXT and FLYTE_TEST_STORAGE)"
)
def test_a_task_runs_on_the_cluster_and_its_outputs_come_back(tmp_path):
    env = flyte.TaskEnvironment(name="cluster_test", image=os.environ.get("FLYTE_TEST_IMAGE", "flyte-test:latest"))

    @env.task
    def add(a: int, b: int) -> int:
        return a + b

    config = tmp_path / "config.yaml"
    config.write_text(f"kubernetes:\n  context: {CONTEXT}\n  storage: {STORAGE}\n")
    flyte.init_from_config(config)
    try:
        assert flyte.run(add, 2, 3).outputs() == 5
    finally:
        flyte.init()


def test_the_backend_finds_outputs_and_reads_each_kinds_status():
    """What the cluster backend reads from a rendered object and from the operators' status
    shapes (a live cluster is exercised by the test above when configured)."""
    from flyte.kube.backend import conditions_phase, outputs_uri
    from flyte.plugins import get_registry
    from flyte.render.context import RenderContext, RenderSettings
    from flyte.render.render import render_task
    from flyteplugins.pytorch.task import Elastic
    from flyteplugins.ray.task import RayJobConfig, WorkerNodeConfig

    ctx = RenderContext(settings=RenderSettings(storage="s3://bucket/flyte"), run_name="r1")
    plain = flyte.TaskEnvironment(name="backend_plain")
    ray_env = flyte.TaskEnvironment(
        name="backend_ray", plugin_config=RayJobConfig(worker_node_config=[WorkerNodeConfig(group_name="w")])
    )
    torch_env = flyte.TaskEnvironment(name="backend_torch", plugin_config=Elastic(nnodes=2, nproc_per_node=1))

    def body() -> int:
        return 1

    for env in (plain, ray_env, torch_env):
        task = env.task(body)
        (main, *_) = render_task(task, ctx)
        assert outputs_uri(main) == f"s3://bucket/flyte/r1/{ctx.name(task.spec)}/outputs.json"

    # batch/v1 Job and PyTorchJob (kubeflow) follow the conditions convention.
    assert conditions_phase({"active": 1}) is None
    assert conditions_phase({"succeeded": 1}) == "SUCCEEDED"
    assert conditions_phase({"conditions": [{"type": "Failed", "status": "True"}]}) == "FAILED"
    running = {"conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}]}
    assert conditions_phase(running) is None
    done = {"conditions": [{"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}]}
    assert conditions_phase(done) == "SUCCEEDED"
    # RayJob: KubeRay's jobStatus / jobDeploymentStatus.
    ray_phase = get_registry().task_plugin_for(ray_env.plugin_config).phase
    assert ray_phase({"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"}) is None
    assert ray_phase({"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"}) == "SUCCEEDED"
    assert ray_phase({"jobStatus": "FAILED"}) == "FAILED"
    assert ray_phase({"jobDeploymentStatus": "Failed"}) == "FAILED"
