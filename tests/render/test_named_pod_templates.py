"""A ``pod_template`` given by name is the cluster's PodTemplate of that name: merged in where
rendering reads the cluster, named in an annotation (and a note) where it renders offline."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.errors import RenderError
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.pod import POD_TEMPLATE_ANNOTATION
from flyte.render.render import render_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kubeschema.validate import validate

# A PodTemplate object as the API server returns it (camelCase, with server fields).
GPU_BASE = {
    "apiVersion": "v1",
    "kind": "PodTemplate",
    "metadata": {"name": "gpu-base", "namespace": "default", "resourceVersion": "7", "uid": "u-1"},
    "template": {
        "metadata": {"labels": {"team": "ml", "app.kubernetes.io/managed-by": "helm"}, "annotations": {"owner": "ml"}},
        "spec": {
            "containers": [
                {
                    "name": "default",
                    "image": "busybox",
                    "env": [{"name": "SHARED", "value": "from-default"}, {"name": "LEVEL", "value": "default"}],
                    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                },
                {
                    "name": "primary",
                    "env": [{"name": "LEVEL", "value": "primary"}],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                },
            ],
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "priorityClassName": "high",
        },
    },
}

env = flyte.TaskEnvironment(
    name="named_pods",
    pod_template="gpu-base",
    env_vars={"LEVEL": "task"},
    resources=flyte.Resources(cpu="1", memory="1Gi"),
)


@env.task
def train(x: int = 1) -> int:
    return x


def reader_of(*templates: dict):
    """What ``flyte.kube.backend.pod_template_reader`` is to a cluster, over these objects."""
    by_name = {t["metadata"]["name"]: t for t in templates}
    reads: list[str] = []

    def read(name: str) -> dict | None:
        reads.append(name)
        return copy.deepcopy(by_name.get(name))

    read.reads = reads  # type: ignore[attr-defined]
    return read


def test_a_named_template_read_from_the_cluster_is_merged_as_flytes_backend_does():
    read = reader_of(GPU_BASE)
    (job,) = render_task(train, RenderContext(read_pod_template=read))
    assert validate(job) == []
    template = job["spec"]["template"]
    pod = template["spec"]
    # The template's pod fields stay.
    assert pod["volumes"] == [{"name": "cache", "emptyDir": {}}]
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["priorityClassName"] == "high"
    # Its containers are templates of the task's container: none of them is added to the pod.
    (container,) = pod["containers"]
    assert container["name"] == "primary"
    assert container["command"][:3] == ["python", "-m", "flyte.entrypoint"]
    env_vars = {e["name"]: e.get("value") for e in container["env"]}
    assert env_vars["SHARED"] == "from-default"  # from `default`
    assert env_vars["LEVEL"] == "task"  # the task's env wins over `primary`, which won over `default`
    assert container["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1", "cpu": "1", "memory": "1Gi"}
    assert container["image"] != "busybox"  # the task's image, not the template's
    # Its labels and annotations reach the pod; ours win a clash.
    assert template["metadata"]["labels"]["team"] == "ml"
    assert template["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flyte"
    assert template["metadata"]["annotations"] == {"owner": "ml"}
    # The Job's failure policy names the container the task runs in.
    rule = job["spec"]["podFailurePolicy"]["rules"][1]
    assert rule["onExitCodes"]["containerName"] == "primary"
    assert read.reads == ["gpu-base"]


def test_one_context_reads_a_template_once_for_all_the_tasks_that_name_it():
    other = flyte.TaskEnvironment(name="named_pods_2", pod_template="gpu-base")

    @other.task
    def infer(x: int = 1) -> int:
        return x

    read = reader_of(GPU_BASE)
    ctx = RenderContext(read_pod_template=read)
    render_task(train, ctx)
    render_task(infer, ctx)
    assert read.reads == ["gpu-base"]


def test_a_name_the_namespace_does_not_have_is_an_error_naming_it():
    ctx = RenderContext(settings=RenderSettings(namespace="ml"), read_pod_template=reader_of())
    with pytest.raises(RenderError) as err:
        render_task(train, ctx)
    message = str(err.value)
    assert "named_pods.train" in message and "'gpu-base'" in message and "'ml'" in message


def test_a_cluster_template_that_cannot_be_a_pod_is_an_error_naming_it():
    broken = copy.deepcopy(GPU_BASE)
    broken["template"]["spec"]["volumes"] = [{"name": "cache", "emptyDirr": {}}]
    with pytest.raises(RenderError) as err:
        render_task(train, RenderContext(read_pod_template=reader_of(broken)))
    assert "'gpu-base'" in str(err.value) and "emptyDirr" in str(err.value)


def test_offline_the_pod_names_the_template_and_the_cli_says_what_is_left_out(tmp_path):
    (job,) = render_task(train, RenderContext())
    assert validate(job) == []
    template = job["spec"]["template"]
    assert template["metadata"]["annotations"] == {POD_TEMPLATE_ANNOTATION: "gpu-base"}
    assert [c["name"] for c in template["spec"]["containers"]] == ["primary"]
    assert "volumes" not in template["spec"]

    source = tmp_path / "named.py"
    source.write_text(
        "import flyte\n"
        "env = flyte.TaskEnvironment(name='named_cli', pod_template='gpu-base')\n"
        "@env.task\n"
        "def t(x: int = 1) -> int:\n"
        "    return x\n"
    )
    result = CliRunner().invoke(build_cli(), ["render", str(source), "env", "-o", "json"])
    assert result.exit_code == 0, result.output
    note = "note: named_cli.t: pod_template='gpu-base' names a PodTemplate of the cluster"
    assert note in result.stderr
    rendered = json.loads(result.stdout)
    assert rendered["spec"]["template"]["metadata"]["annotations"] == {POD_TEMPLATE_ANNOTATION: "gpu-base"}


def test_plugins_merge_a_named_template_through_the_context(tmp_path):
    from flyteplugins.spark import Spark

    spark_env = flyte.TaskEnvironment(name="named_spark", pod_template="gpu-base", plugin_config=Spark())

    @spark_env.task
    async def etl() -> None:
        return None

    (app,) = render_task(etl, RenderContext(read_pod_template=reader_of(GPU_BASE)))
    assert validate(app) == []
    for role in ("driver", "executor"):
        pod = app["spec"][role]["template"]["spec"]
        assert pod["volumes"] == [{"name": "cache", "emptyDir": {}}]
        (container,) = pod["containers"]
        assert container["name"] == f"spark-kubernetes-{role}"
        assert {e["name"]: e.get("value") for e in container["env"]}["SHARED"] == "from-default"
