"""Dask configuration: validation, the TaskSpec round trip, discovery, and the rendered DaskJob
(validated against the operator's CRD, and its pods' commands run as real processes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import yaml
from click.testing import CliRunner
from kubernetes.client import V1Container, V1PodSpec, V1Toleration

import flyte
from flyte.errors import ConfigurationError
from flyte.plugins import PluginRegistry, use_registry
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.render import render_task
from flyteplugins.dask import Dask, Scheduler, WorkerGroup
from flyteplugins.dask._hooks import _phase, _pods

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import render_valid


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"number_of_workers": None},
            ConfigurationError,
            r"number_of_workers: None is not a worker count \(accepted: an int >= 1",
        ),
        ({"number_of_workers": 0}, ConfigurationError, "number_of_workers: 0 is not a worker count"),
        ({"number_of_workers": -1}, ConfigurationError, "number_of_workers: -1"),
        ({"number_of_workers": True}, ConfigurationError, "number_of_workers: True"),
        ({"number_of_workers": "2"}, ConfigurationError, "number_of_workers: '2'"),
        ({"image": ""}, ConfigurationError, "WorkerGroup.image: '' is not an image name"),
        ({"image": 3}, TypeError, "WorkerGroup.image: expected an image name"),
        ({"resources": {"cpu": 1}}, TypeError, "WorkerGroup.resources: expected a flyte.Resources"),
    ],
)
def test_worker_groups_are_validated_when_created(kwargs, error, match):
    with pytest.raises(error, match=match):
        WorkerGroup(**kwargs)


def test_scheduler_and_dask_are_validated_when_created():
    with pytest.raises(ConfigurationError, match="Scheduler.image: 'a b'"):
        Scheduler(image="a b")
    with pytest.raises(TypeError, match="Scheduler.resources"):
        Scheduler(resources="1Gi")
    with pytest.raises(TypeError, match=r"Dask.workers: expected a WorkerGroup\(...\)"):
        Dask(workers=3)
    with pytest.raises(TypeError, match="Dask.scheduler"):
        Dask(scheduler=WorkerGroup())
    with pytest.raises(ConfigurationError, match="number_of_workers"):
        flyte.TaskEnvironment(name="bad_dask", plugin_config=Dask(workers=WorkerGroup(number_of_workers=0)))


def test_configs_are_frozen_hashable_values():
    config = Dask(workers=WorkerGroup(number_of_workers=3, resources=flyte.Resources(cpu=2)))
    assert config == Dask(workers=WorkerGroup(number_of_workers=3, resources=flyte.Resources(cpu=2)))
    assert len({config, Dask(workers=WorkerGroup(number_of_workers=3, resources=flyte.Resources(cpu=2)))}) == 1
    assert Dask().workers.number_of_workers == 1 and Dask().scheduler == Scheduler()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.workers.number_of_workers = 5
    with pytest.raises(ConfigurationError):
        attrs.evolve(config.workers, number_of_workers=0)  # evolve validates too


def full_config() -> Dask:
    return Dask(
        scheduler=Scheduler(image="ghcr.io/acme/dask-scheduler:1", resources=flyte.Resources(cpu=1, memory="2Gi")),
        workers=WorkerGroup(
            number_of_workers=3,
            image="ghcr.io/acme/dask-worker:1",
            resources=flyte.Resources(cpu=(1, "2500m"), memory=("2Gi", "3Gi")),
        ),
    )


def test_config_round_trips_through_the_spec_converter():
    env = flyte.TaskEnvironment(name="dask_rt", plugin_config=full_config())

    @env.task
    async def t(x: int) -> int:
        return x

    data = json.loads(json.dumps(t.spec.to_dict()))
    back = flyte.TaskSpec.from_dict(data)
    assert back == t.spec and back.plugin_config == full_config()


def test_flyte_plugins_lists_dask_and_its_config_type(fresh_registry):
    infos = {i.name: i for i in fresh_registry.infos()}
    assert infos["dask"].distribution == "flyteplugins-dask"
    assert "flyteplugins.dask.task.Dask" in infos["dask"].config_types
    from flyte.cli.main import build_cli

    result = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    listed = {p["name"]: p for p in json.loads(result.output)}
    assert "flyteplugins.dask.task.Dask" in listed["dask"]["config_types"]


def test_without_the_plugin_the_config_fails_with_the_install_hint():
    with use_registry(PluginRegistry(only=[])), pytest.raises(TypeError, match="pip install flyteplugins-dask"):
        flyte.TaskEnvironment(name="no_dask", plugin_config=Dask())


def test_importing_the_plugin_does_not_import_dask():
    code = "import sys, flyteplugins.dask, flyteplugins.dask._hooks; print('distributed' in sys.modules, 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "status, phase",
    [
        ({}, None),
        ({"jobStatus": "JobCreated"}, None),
        ({"jobStatus": "ClusterCreated"}, None),
        ({"jobStatus": "Running"}, None),
        ({"jobStatus": "Successful"}, "SUCCEEDED"),
        ({"jobStatus": "Failed"}, "FAILED"),
    ],
)
def test_the_phase_comes_from_the_operators_job_status(status, phase):
    assert _phase(status) == phase


def test_a_cluster_runs_record_selects_every_pod_the_operator_makes_for_the_job(tmp_path):
    from flyte.kube.record import kubectl_commands

    env = flyte.TaskEnvironment(name="dask_selected", plugin_config=Dask())

    @env.task
    async def selected() -> None:
        pass

    job = render_valid(selected, tmp_path)
    name = job["metadata"]["name"]
    selector = _pods(job)
    # The operator labels the runner, the scheduler and the workers with the job's cluster name,
    # the same label the scheduler Service selects on.
    assert selector == f"dask.org/cluster-name={name}"
    service = job["spec"]["cluster"]["spec"]["scheduler"]["service"]
    assert service["selector"]["dask.org/cluster-name"] == name
    row = {"context": None, "namespace": "default", "kind": "DaskJob", "name": name, "pods": selector}
    assert f"kubectl -n default get pods -l {selector}" in kubectl_commands(row)


def _containers(pod: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod["containers"]}


def test_the_rendered_daskjob_validates_and_carries_every_setting(tmp_path):
    template = flyte.PodTemplate(
        pod_spec=V1PodSpec(
            containers=[V1Container(name="primary")], tolerations=[V1Toleration(key="team", operator="Exists")]
        ),
        labels={"team": "data"},
    )
    env = flyte.TaskEnvironment(
        name="dask_render",
        plugin_config=full_config(),
        image=flyte.Image.from_debian_base(name="dask", registry="ghcr.io/acme").with_pip_packages("flyteplugins-dask"),
        resources=flyte.Resources(cpu=(1, 2), memory="3Gi"),
        env_vars={"STAGE": "test"},
        secrets=[flyte.Secret("token", as_env_var="TOKEN")],
        pod_template=template,
        interruptible=True,
    )

    @env.task(timeout=600)
    async def compute(n: int = 3) -> int:
        return n

    job = render_valid(compute, tmp_path)
    assert (job["apiVersion"], job["kind"]) == ("kubernetes.dask.org/v1", "DaskJob")
    name = job["metadata"]["name"]
    spec = job["spec"]

    runner_pod = spec["job"]["spec"]
    runner = _containers(runner_pod)["job-runner"]
    assert runner_pod["restartPolicy"] == "Never" and runner_pod["activeDeadlineSeconds"] == 600
    assert runner["command"][:3] == ["python", "-m", "flyte.entrypoint"]
    assert runner["image"].startswith("ghcr.io/acme/dask:")
    assert runner["resources"] == {"requests": {"cpu": "1", "memory": "3Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}}
    env_of = {e["name"]: e for e in runner["env"]}
    assert (
        env_of["DASK_SCHEDULER_ADDRESS"]["value"]
        == f"tcp://{name}-scheduler.$(FLYTE_DASK_NAMESPACE).svc.cluster.local:8786"
    )
    assert env_of["FLYTE_DASK_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env_of["STAGE"]["value"] == "test"
    assert env_of["TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "token", "key": "token"}  # a reference only
    assert spec["job"]["metadata"]["labels"]["team"] == "data"
    assert {"key": "team", "operator": "Exists"} in runner_pod["tolerations"]

    scheduler_spec = spec["cluster"]["spec"]["scheduler"]
    scheduler_pod = scheduler_spec["spec"]
    scheduler = _containers(scheduler_pod)["scheduler"]
    assert scheduler["args"] == ["dask", "scheduler"] and "command" not in scheduler
    assert scheduler["image"] == "ghcr.io/acme/dask-scheduler:1"
    assert scheduler["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert [(p["name"], p["containerPort"]) for p in scheduler["ports"]] == [("tcp-comm", 8786), ("dashboard", 8787)]
    assert scheduler["readinessProbe"]["httpGet"]["port"] == "dashboard"  # a name: the CRD takes no int here
    assert scheduler_pod["restartPolicy"] == "Always" and "activeDeadlineSeconds" not in scheduler_pod
    assert "affinity" not in scheduler_pod  # the scheduler never goes to interruptible nodes
    service = scheduler_spec["service"]
    assert service["selector"] == {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(8786, "tcp-comm"), (8787, "dashboard")]

    worker_spec = spec["cluster"]["spec"]["worker"]
    worker_pod = worker_spec["spec"]
    worker = _containers(worker_pod)["worker"]
    assert worker_spec["replicas"] == 3
    assert worker["image"] == "ghcr.io/acme/dask-worker:1"
    assert worker["args"] == [
        "dask",
        "worker",
        "--name",
        "$(DASK_WORKER_NAME)",
        "--nthreads",
        "3",
        "--memory-limit",
        str(3 * 2**30),
    ]
    assert worker["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2500m", "memory": "3Gi"},
    }
    assert worker_pod["restartPolicy"] == "Always" and "activeDeadlineSeconds" not in worker_pod
    assert worker_pod["affinity"]["nodeAffinity"]  # interruptible: workers may go to spot nodes

    for pod in (scheduler_pod, worker_pod):
        (container,) = [c for c in pod["containers"] if c["name"] in ("scheduler", "worker")]
        names = {e["name"] for e in container["env"]}
        assert {"STAGE", "TOKEN", "PYTHONPATH"} <= names  # env vars and secrets, and the code path
        assert not names & {"FLYTE_INPUTS", "FLYTE_OUTPUTS_URI"}  # the runner's business only
        assert {"key": "team", "operator": "Exists"} in pod["tolerations"]  # the pod template applies


def test_worker_sizes_fall_back_to_the_task_resources_and_long_names_fit_the_operator(tmp_path):
    env = flyte.TaskEnvironment(
        name="a_rather_long_environment_name_for_dask_work",
        plugin_config=Dask(workers=WorkerGroup(number_of_workers=2)),
        resources=flyte.Resources(cpu="500m", memory="512Mi"),
    )

    @env.task
    async def an_equally_long_task_name_to_push_the_limit() -> None:
        pass

    job = render_valid(an_equally_long_task_name_to_push_the_limit, tmp_path)
    assert len(job["metadata"]["name"]) <= 53  # the operator adds "-scheduler" for a DNS label
    worker = _containers(job["spec"]["cluster"]["spec"]["worker"]["spec"])["worker"]
    assert worker["args"][-4:] == ["--nthreads", "1", "--memory-limit", str(512 * 2**20)]


def test_without_resources_dask_sizes_the_workers_from_their_containers(tmp_path):
    env = flyte.TaskEnvironment(name="dask_bare", plugin_config=Dask())

    @env.task
    async def bare() -> None:
        pass

    job = render_valid(bare, tmp_path)
    worker = _containers(job["spec"]["cluster"]["spec"]["worker"]["spec"])["worker"]
    assert worker["args"] == ["dask", "worker", "--name", "$(DASK_WORKER_NAME)"]


CODE = """
import os

from distributed import Client

import flyte
from flyteplugins.dask import Dask, WorkerGroup

env = flyte.TaskEnvironment(
    name="dask_pods",
    plugin_config=Dask(workers=WorkerGroup(number_of_workers=2, resources=flyte.Resources(cpu=2, memory="700Mi"))),
)


def triple(x):
    return 3 * x


@env.task
async def in_pods(n: int) -> dict:
    client = Client()
    client.wait_for_workers(2, timeout=120)
    workers = client.scheduler_info()["workers"].values()
    return {
        "values": client.gather(client.map(triple, range(n))),
        "scheduler": client.scheduler.address,
        "workers": sorted(w["name"] for w in workers),
        "threads": sorted(w["nthreads"] for w in workers),
        "memory": sorted(w["memory_limit"] for w in workers),
    }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_daskjob_pods_run_as_rendered_and_the_runner_joins_the_jobs_cluster(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "dask_pod_tasks.py").write_text(CODE)  # a name of its own: sys.modules outlives the test
    sys.path.insert(0, str(code))
    try:
        import dask_pod_tasks
    finally:
        sys.path.remove(str(code))
    ctx = RenderContext(settings=RenderSettings(storage=str(tmp_path / "bucket")), inputs={"n": 4})
    (job,) = render_task(dask_pod_tasks.in_pods, ctx)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    cluster = job["spec"]["cluster"]["spec"]
    scheduler = _containers(cluster["scheduler"]["spec"])["scheduler"]
    worker = _containers(cluster["worker"]["spec"])["worker"]
    runner = _containers(job["spec"]["job"]["spec"])["job-runner"]

    # What the operator does, on this machine: the Service becomes a free loopback port, and
    # every worker pod gets DASK_WORKER_NAME and DASK_SCHEDULER_ADDRESS.
    address = f"tcp://127.0.0.1:{_free_port()}"
    base = {**os.environ, "FLYTE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(code)}

    def env_of(container: dict, **extra: str) -> dict[str, str]:
        values = {e["name"]: e["value"] for e in container["env"] if "value" in e and e["name"] != "PYTHONPATH"}
        return {**base, **values, **extra}

    def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
        # The image has `dask` on its PATH; here it sits next to this interpreter.
        args = [str(Path(sys.executable).with_name("dask")) if a == "dask" else a for a in args]
        return subprocess.Popen(
            args, env=env, cwd=code, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    loopback = ["--host", "127.0.0.1", "--no-dashboard"]
    pods = [start([*scheduler["args"], *loopback, "--port", address.rsplit(":", 1)[1]], env_of(scheduler))]
    for i in range(cluster["worker"]["replicas"]):
        name = f"{job['metadata']['name']}-default-worker-{i}"
        args = [a.replace("$(DASK_WORKER_NAME)", name) for a in worker["args"]]
        pods.append(start([*args, *loopback], env_of(worker, DASK_WORKER_NAME=name, DASK_SCHEDULER_ADDRESS=address)))
    try:
        # The runner's DASK_SCHEDULER_ADDRESS names the Service in the pod's namespace; here that is the port above.
        command = [sys.executable if c == "python" else c for c in runner["command"]]
        done = subprocess.run(
            command,
            env=env_of(runner, DASK_SCHEDULER_ADDRESS=address),
            cwd=code,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        out = json.loads(Path(env_of(runner)["FLYTE_OUTPUTS_URI"]).read_text())
    finally:
        for pod in pods:
            os.killpg(pod.pid, signal.SIGTERM)
        for pod in pods:
            try:
                pod.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(pod.pid, signal.SIGKILL)
                pod.wait()
    assert out["values"] == [0, 3, 6, 9]
    assert out["scheduler"] == address  # the task joined the job's cluster instead of starting one
    assert len(out["workers"]) == 2 and all(w.endswith(("-worker-0", "-worker-1")) for w in out["workers"])
    assert out["threads"] == [2, 2] and out["memory"] == [700 * 2**20] * 2  # --nthreads, --memory-limit
