"""A flyte.clustered task on Kubernetes: the JobSet it renders (valid against the JobSet CRD,
strict fields, CEL, JobSet's webhook), how the Kubernetes backend follows it, and how a pod
reads its place in the set (flyte.clustered._pod). The pods themselves run in
test_clustered_pods.py."""

from __future__ import annotations

import copy
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from kubernetes.client import V1Container, V1PodSpec, V1Toleration

import flyte
from flyte.clustered import ClusteredTaskEnvironment, ClusterFailurePolicy, JaxRun, TorchRun, _pod
from flyte.clustered._render import name_limit, phase, pods
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.render import render_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import render_valid, validate_manifests
from kubeschema.validate import validate

SIDECAR = flyte.PodTemplate(
    primary_container_name="trainer",
    labels={"team": "ml"},
    pod_spec=V1PodSpec(
        containers=[
            V1Container(name="trainer"),
            V1Container(name="metrics", image="prom/pushgateway:latest"),
        ],
        tolerations=[V1Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
    ),
)

ddp = ClusteredTaskEnvironment(
    name="ddp",
    replicas=4,
    nproc_per_node=2,
    runtime=TorchRun(rdzv_backend="c10d", max_restarts=1),
    failure_policy=ClusterFailurePolicy(max_restarts=2),
    resources=flyte.Resources(cpu=4, memory="16Gi", gpu="A100:2", shm="auto"),
    env_vars={"STAGE": "dev", "MASTER_PORT": "1234"},  # MASTER_PORT is the launcher's: replaced
    secrets=[flyte.Secret("hf-token", as_env_var="HF_TOKEN"), flyte.Secret("cert", mount="/etc/flyte/secrets")],
    pod_template=SIDECAR,
    interruptible=True,
)


@ddp.task(retries=1, timeout=flyte.Timeout(max_runtime=timedelta(hours=1), deadline=timedelta(hours=3)))
def fit(epochs: int = 2) -> float:
    return float(epochs)


jax = ClusteredTaskEnvironment(
    name="jax",
    replicas=2,
    nproc_per_node=1,
    runtime=JaxRun(),
    failure_policy=ClusterFailurePolicy(max_restarts=1, restart_on_host_maintenance=True),
    ttl_seconds_after_finished=60,
)


@jax.task
def step() -> int:
    return 0


def _job(obj: dict) -> dict:
    (rjob,) = obj["spec"]["replicatedJobs"]
    return rjob["template"]["spec"]


def _container(obj: dict, name: str = "trainer") -> dict:
    return next(c for c in _job(obj)["template"]["spec"]["containers"] if c["name"] == name)


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_clustered_task_renders_as_one_valid_jobset_of_an_indexed_job(tmp_path):
    obj = render_valid(fit, tmp_path)  # the JobSet CRD's schema, strict fields, CEL, the webhook
    assert (obj["apiVersion"], obj["kind"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet")
    spec = obj["spec"]
    assert spec["network"] == {"enableDNSHostnames": True, "publishNotReadyAddresses": True}
    (rjob,) = spec["replicatedJobs"]
    assert (rjob["name"], rjob["replicas"]) == ("node", 1)
    job = _job(obj)
    assert job["completionMode"] == "Indexed"
    assert job["parallelism"] == job["completions"] == 4
    assert job["backoffLimit"] == 0
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    # (failure_policy.max_restarts + 1) rounds for each of 1 + retries attempts
    assert spec["failurePolicy"]["maxRestarts"] == 3 * 2 - 1
    assert spec["ttlSecondsAfterFinished"] == 3600  # the cluster setting when the env sets none
    assert obj["metadata"]["labels"]["flyte.org/task"] == "fit"


def test_the_pod_is_the_plain_tasks_pod_plus_the_launchers_place(tmp_path):
    obj = render_valid(fit, tmp_path)
    pod = _job(obj)["template"]["spec"]
    plain = RenderContext().pod_spec(fit.spec)  # what a plain task with these settings gets
    assert [c["name"] for c in pod["containers"]] == ["trainer", "metrics"]
    ours, base = _container(obj), next(c for c in plain["containers"] if c["name"] == "trainer")
    for key in ("image", "resources", "volumeMounts", "workingDir"):
        assert ours[key] == base[key], key
    assert {k: v for k, v in pod.items() if k != "containers"} == {k: v for k, v in plain.items() if k != "containers"}
    assert pod["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-tesla-a100"
    assert pod["activeDeadlineSeconds"] == 3600  # max_runtime bounds each pod
    assert any(t.get("key") == "gpu" for t in pod["tolerations"])  # the pod template's
    assert ours["command"] == [*base["command"], "--clustered"]
    env = _env(ours)
    assert env["STAGE"] == "dev"
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "hf-token"}}  # a reference only
    assert env["NNODES"] == "4" and env["NPROC_PER_NODE"] == "2" and env["RDZV_BACKEND"] == "c10d"
    assert env["MASTER_PORT"] == "29500"  # the launcher's, over the env var of the same name
    assert [e["name"] for e in ours["env"]].count("MASTER_PORT") == 1
    assert env["JOBSET_NAME"] == {"fieldRef": {"fieldPath": "metadata.labels['jobset.sigs.k8s.io/jobset-name']"}}
    assert env["JOBSET_RESTART_ATTEMPT"] == {
        "fieldRef": {"fieldPath": "metadata.labels['jobset.sigs.k8s.io/restart-attempt']"}
    }
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert "JOB_COMPLETION_INDEX" not in env  # Kubernetes sets it in an Indexed Job's pods


def test_failure_rules_a_non_recoverable_error_or_a_deadline_fail_the_set(tmp_path):
    obj = render_valid(fit, tmp_path)
    job = _job(obj)
    assert job["podFailurePolicy"]["rules"] == [
        {"action": "FailJob", "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [3]}}
    ]
    assert job["activeDeadlineSeconds"] == 3 * 3600
    assert obj["spec"]["failurePolicy"]["rules"] == [
        {"name": "deadline", "action": "FailJobSet", "onJobFailureReasons": ["DeadlineExceeded"]},
        {"name": "nonRecoverableError", "action": "FailJobSet", "onJobFailureReasons": ["PodFailurePolicy"]},
    ]


def test_host_maintenance_restarts_the_set_outside_the_budget(tmp_path):
    obj = render_valid(step, tmp_path)
    job = _job(obj)
    assert job["podFailurePolicy"]["rules"] == [
        {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    ]
    assert obj["spec"]["failurePolicy"] == {
        "maxRestarts": 1,
        "rules": [
            {
                "name": "hostMaintenance",
                "action": "RestartJobSetAndIgnoreMaxRestarts",
                "onJobFailureReasons": ["PodFailurePolicy"],
            }
        ],
    }
    assert obj["spec"]["ttlSecondsAfterFinished"] == 60
    env = _env(_container(obj, "primary"))
    assert "RDZV_BACKEND" not in env and env["NPROC_PER_NODE"] == "1"  # JaxRun: no torchrun


def test_an_override_reshapes_the_jobset(tmp_path):
    from flyte.clustered import ClusteredSettings

    bigger = fit.override(plugin_config=ClusteredSettings(replicas=8, nproc_per_node=1), retries=0)
    obj = render_valid(bigger, tmp_path)
    assert _job(obj)["completions"] == 8
    assert obj["spec"]["failurePolicy"]["maxRestarts"] == 0


def test_names_leave_room_for_every_pods_name(tmp_path):
    long = ClusteredTaskEnvironment(name="a_very_long_environment_name_for_training", replicas=1000, nproc_per_node=1)

    @long.task
    def a_rather_long_task_name_as_well() -> None:
        return None

    obj = render_valid(a_rather_long_task_name_as_well, tmp_path)
    name = obj["metadata"]["name"]
    assert len(f"{name}-node-0-999-abcde") <= 63
    assert len(name) == name_limit(1000)


def test_the_validator_refuses_a_jobset_whose_pods_names_would_be_too_long(tmp_path):
    obj = render_valid(step, tmp_path)
    obj["metadata"]["name"] = "j" * 52  # a fine DNS label, but its pods' names are not
    problems = validate(obj)
    assert any("its pods' names" in p for p in problems), problems


def test_the_backend_shortens_a_runs_jobset_name_for_its_pods(tmp_path):
    from flyte.kube.backend import RUN_OBJECT_NAME_LIMIT, _name_limit, run_object_name

    obj = render_valid(fit, tmp_path)
    obj["spec"]["replicatedJobs"][0]["template"]["spec"]["completions"] = 1000
    limit = _name_limit(obj)
    assert limit < RUN_OBJECT_NAME_LIMIT
    obj["metadata"]["name"] = run_object_name(obj["metadata"]["name"], "r" * 40, limit)
    assert obj["metadata"]["name"].endswith("-" + "r" * 40) and len(obj["metadata"]["name"]) <= limit
    assert validate(obj) == []
    assert _name_limit({"kind": "Job", "spec": {}}) == RUN_OBJECT_NAME_LIMIT


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda o: o["spec"].update(failurPolicy={}), "spec.failurPolicy: unknown field"),
        (lambda o: o["spec"]["failurePolicy"]["rules"][0].update(action="Retry"), "action"),
        (lambda o: o["spec"]["failurePolicy"]["rules"][0].update(name="9 lives"), "does not match"),
        (lambda o: _job(o).update(backoffLimit="0"), "backoffLimit: '0' is not of type integer"),
        (lambda o: _container(o)["env"].append({"name": "NNODES", "value": "9"}), "duplicate entry (name='NNODES')"),
        (
            lambda o: o["spec"].update(
                startupPolicy={"startupPolicyOrder": "InOrder"},
                replicatedJobs=[
                    *o["spec"]["replicatedJobs"],
                    {**o["spec"]["replicatedJobs"][0], "name": "b", "dependsOn": [{"name": "node", "status": "Ready"}]},
                ],
            ),
            "StartupPolicy and DependsOn APIs are mutually exclusive",  # the CRD's CEL rule
        ),
        (lambda o: o.update(apiVersion="jobset.x-k8s.io/v1alpha1"), "not served"),
    ],
)
def test_negative_controls_the_jobset_validation_is_strict(tmp_path, mutate, words):
    obj = render_valid(fit, tmp_path)
    bad = copy.deepcopy(obj)
    mutate(bad)
    problems = validate(bad)
    assert any(words in p for p in problems), problems


def test_a_rendered_file_validates_with_the_tests_validator(tmp_path):
    objects = render_task(fit, RenderContext()) + render_task(step, RenderContext())
    path = tmp_path / "jobsets.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    assert validate_manifests(path) == []


def test_phase_reads_the_jobsets_conditions():
    from flyte.clustered import ClusteredSettings
    from flyte.plugins import get_registry

    plugin = get_registry().task_plugin_for(ClusteredSettings(replicas=1, nproc_per_node=1))
    assert plugin.phase is not None and plugin.render is not None
    running = {"restarts": 1, "replicatedJobsStatus": [{"name": "node", "active": 1}]}
    assert plugin.phase(running) is None
    assert plugin.phase({"conditions": [{"type": "Completed", "status": "True"}]}) == "SUCCEEDED"
    assert plugin.phase({"conditions": [{"type": "Failed", "status": "True"}]}) == "FAILED"
    assert plugin.phase({"conditions": [{"type": "Completed", "status": "False"}]}) is None
    assert phase({"terminalState": "Failed"}) == "FAILED"
    obj = {"metadata": {"name": "ddp-fit-r1"}}
    assert plugin.pods(obj) == pods(obj) == "jobset.sigs.k8s.io/jobset-name=ddp-fit-r1"


# -- the pod's place --------------------------------------------------------------------------
POD_ENV = {
    "JOBSET_NAME": "ddp-fit-r1",
    "POD_NAMESPACE": "ml",
    "JOB_COMPLETION_INDEX": "2",
    "JOBSET_RESTART_ATTEMPT": "4",
    "NNODES": "4",
    "NPROC_PER_NODE": "2",
    "MASTER_PORT": "29500",
    "RDZV_BACKEND": "c10d",
}


def test_a_pod_reads_its_place_from_the_jobset_environment():
    node = _pod.node_from_environment(POD_ENV)
    assert (node.node_rank, node.nnodes, node.nproc_per_node) == (2, 4, 2)
    assert node.master_addr == "ddp-fit-r1-node-0-0.ddp-fit-r1"  # node 0 in the headless service
    assert (node.master_port, node.restart_count, node.rdzv_backend) == (29500, 4, "c10d")
    assert _pod.node_from_environment({**POD_ENV, "MASTER_ADDR": "10.0.0.5"}).master_addr == "10.0.0.5"
    assert _pod.node_from_environment({k: v for k, v in POD_ENV.items() if k != "MASTER_PORT"}).master_port == 29500


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"JOB_COMPLETION_INDEX": ""}, "JOB_COMPLETION_INDEX not set"),
        ({"JOBSET_NAME": "", "POD_NAMESPACE": ""}, "JOBSET_NAME, POD_NAMESPACE not set"),
        ({"NNODES": "four"}, "NNODES='four' is not a whole number"),
        ({"JOB_COMPLETION_INDEX": "4"}, "JOB_COMPLETION_INDEX=4 is not a node of NNODES=4"),
    ],
)
def test_a_pod_without_its_place_is_refused_with_what_is_wrong(change, words):
    with pytest.raises(_pod.ClusteredPodError, match=words):
        _pod.node_from_environment({**POD_ENV, **change})


def test_a_pod_waits_for_node_0s_name_and_gives_up_with_a_clear_error():
    answers = iter([OSError("not yet"), OSError("not yet"), None])

    def resolve(host: str) -> None:
        answer = next(answers)
        if answer is not None:
            raise answer

    _pod.wait_for_dns("n-node-0-0.n", timeout=60, interval=0.001, resolve=resolve)
    assert next(answers, "done") == "done"  # resolved on the third try

    def never(host: str) -> None:
        raise OSError("Name or service not known")

    with pytest.raises(_pod.ClusteredPodError, match=r"'n-node-0-0.n' did not resolve within 0.05 s"):
        _pod.wait_for_dns("n-node-0-0.n", timeout=0.05, interval=0.01, resolve=never)


def test_workers_see_the_torchrun_contract_and_the_restart_within_their_attempt():
    settings = fit.spec.plugin_config  # failure_policy.max_restarts=2: 3 rounds per attempt
    node = _pod.node_from_environment(POD_ENV)  # JobSet's 5th start (restart count 4)
    env = _pod.node_env({"STAGE": "dev", "HF_TOKEN": "x"}, settings, node)
    assert env["JOBSET_RESTART_ATTEMPT"] == "1"  # attempt 1 (4 // 3), its restart 1 (4 % 3)
    assert (env["NODE_RANK"], env["GROUP_RANK"], env["NNODES"]) == ("2", "2", "4")
    assert (env["WORLD_SIZE"], env["LOCAL_WORLD_SIZE"]) == ("8", "2")
    assert env["MASTER_ADDR"] == "ddp-fit-r1-node-0-0.ddp-fit-r1" and env["MASTER_PORT"] == "29500"
    assert env["STAGE"] == "dev" and env["HF_TOKEN"] == "x"


def _write_tasks(tmp_path: Path) -> str:
    (tmp_path / "pod_place_tasks.py").write_text(
        "import flyte\n"
        "from flyte.clustered import ClusteredTaskEnvironment\n"
        "env = ClusteredTaskEnvironment(name='place', replicas=2, nproc_per_node=1)\n"
        "plain = flyte.TaskEnvironment(name='plainer')\n"
        "@env.task\n"
        "def where() -> int:\n"
        "    return 0\n"
        "@plain.task\n"
        "def simple() -> int:\n"
        "    return 0\n"
    )
    return "pod_place_tasks"


def test_the_entrypoint_refuses_a_clustered_pod_without_its_place(tmp_path, monkeypatch, capsys):
    from flyte import entrypoint

    monkeypatch.syspath_prepend(str(tmp_path))
    module = _write_tasks(tmp_path)
    for name in _pod.REQUIRED:
        monkeypatch.delenv(name, raising=False)
    assert entrypoint.main(["--module", module, "--task", "where", "--clustered"]) == 2
    assert "JOBSET_NAME, POD_NAMESPACE, JOB_COMPLETION_INDEX" in capsys.readouterr().err
    assert entrypoint.main(["--module", module, "--task", "simple", "--clustered"]) == 2
    assert "is not a task of a ClusteredTaskEnvironment" in capsys.readouterr().err


def test_the_entrypoint_refuses_a_pod_rendered_from_other_code_or_whose_master_never_resolves(
    tmp_path, monkeypatch, capsys
):
    from flyte import entrypoint

    monkeypatch.syspath_prepend(str(tmp_path))
    module = _write_tasks(tmp_path)
    for key, value in {**POD_ENV, "NNODES": "2", "NPROC_PER_NODE": "1", "JOB_COMPLETION_INDEX": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NPROC_PER_NODE", "3")
    assert entrypoint.main(["--module", module, "--task", "where", "--clustered"]) == 2
    assert "NPROC_PER_NODE=3" in capsys.readouterr().err
    monkeypatch.setenv("NPROC_PER_NODE", "1")
    monkeypatch.setenv("JOBSET_NAME", "no-such-jobset-x")  # not in any DNS here
    monkeypatch.setenv("FLYTE_CLUSTERED_DNS_TIMEOUT", "0.2")
    assert entrypoint.main(["--module", module, "--task", "where", "--clustered"]) == 2
    err = capsys.readouterr().err
    assert "'no-such-jobset-x-node-0-0.no-such-jobset-x' did not resolve" in err
    _pod.leave()


def test_a_local_run_is_not_routed_to_a_pods_node(tmp_path):
    assert _pod.current_node(fit.spec) is None
    settings = RenderSettings(namespace="ml")
    (obj,) = render_task(fit, RenderContext(settings=settings))
    assert obj["metadata"]["namespace"] == "ml"


def test_a_schedule_on_a_task_that_renders_its_own_object_is_refused_not_dropped():
    """A CronJob starts only a Job: a scheduled trigger on a JobSet task (as on a RayJob's) would
    never fire on the cluster, so rendering says so; a manual trigger renders."""
    env = ClusteredTaskEnvironment(name="nightly", replicas=2, nproc_per_node=1)

    @env.task(triggers=flyte.Trigger("nightly-train", flyte.Cron("0 2 * * *")))
    def train() -> float:
        return 0.0

    @env.task(triggers=flyte.Trigger("by-hand", None))
    def retrain() -> float:
        return 0.0

    with pytest.raises(
        flyte.errors.RenderError, match=r"trigger 'nightly-train' cannot fire on Kubernetes.*ClusteredSettings"
    ):
        render_task(train, RenderContext())
    [jobset] = render_task(retrain, RenderContext())
    assert jobset["kind"] == "JobSet"
