"""Rendered Kubernetes objects are valid (tests/kubeschema) and they work (the entrypoint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from flyte.cli.main import build_cli

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from conftest import validate_manifests  # noqa: E402
from spans import max_overlap  # noqa: E402

GUIDE_EXAMPLES = textwrap.dedent("""
    from datetime import datetime, timedelta
    import flyte
    from kubernetes.client import (V1Container, V1CSIVolumeSource, V1EnvVar, V1LocalObjectReference,
                                   V1PodSpec, V1Volume, V1VolumeMount)

    pod_template = flyte.PodTemplate(
        primary_container_name="primary",
        labels={"lKeyA": "lValA"},
        annotations={"aKeyA": "aValA"},
        pod_spec=V1PodSpec(
            containers=[V1Container(name="primary", env=[V1EnvVar(name="hello", value="world")]),
                        V1Container(name="metrics-sidecar", image="prom/pushgateway:latest",
                                    ports=[{"containerPort": 9091}])],
            image_pull_secrets=[V1LocalObjectReference(name="regcred-test")],
            volumes=[V1Volume(name="data-volume", csi=V1CSIVolumeSource(driver="your-csi-driver",
                                                                         volume_attributes={"key": "value"}))],
        ),
    )
    pod_template.pod_spec.containers[0].volume_mounts = [V1VolumeMount(name="data-volume", mount_path="/mnt/data")]
    pod_env = flyte.TaskEnvironment(name="hello_world", pod_template=pod_template)

    @pod_env.task
    async def say_hello(data: str) -> str:
        return f"Hello {data}"

    @pod_env.task
    async def say_hello_nested(data: str = "default string") -> str:
        return await say_hello(data=data)

    resources_env = flyte.TaskEnvironment(
        name="ml-training",
        resources=flyte.Resources(cpu=("2", "4"), memory=("2Gi", "12Gi"), disk="50Gi", shm="8Gi"),
    )

    @resources_env.task
    async def train_model(dataset_path: str) -> str:
        return "model trained"

    gpu_env = flyte.TaskEnvironment(name="gpus", resources=flyte.Resources(gpu="A100:2", memory="8Gi"))

    @gpu_env.task
    def gpu_task() -> None: ...

    tpu_env = flyte.TaskEnvironment(name="tpus", resources=flyte.Resources(gpu=flyte.TPU(device="V5P", partition="2x2x1")))

    @tpu_env.task
    def tpu_task() -> None: ...

    custom_env = flyte.TaskEnvironment(name="custom",
                                       resources=flyte.Resources(gpu=flyte.Device(device="custom_accelerator", quantity=2, partition="large")))

    @custom_env.task
    def custom_task() -> None: ...

    secrets_env = flyte.TaskEnvironment(
        name="env_1",
        secrets=[flyte.Secret(key="my_secret", as_env_var="MY_SECRET_ENV_VAR"),
                 flyte.Secret(key="my_file_secret", mount="/etc/flyte/secrets")],
    )

    @secrets_env.task
    def task_1() -> None: ...

    spot_env = flyte.TaskEnvironment(name="my_env", interruptible=True, queue="gpu-pool")

    @spot_env.task(interruptible=True, retries=3, timeout=flyte.Timeout(max_runtime=timedelta(minutes=1), deadline=3600))
    def train(data: list) -> dict:
        return {"accuracy": 0.95}

    trigger_env = flyte.TaskEnvironment(name="trigger_env")

    comprehensive_trigger = flyte.Trigger(
        name="monthly_financial_report",
        automation=flyte.Cron("0 6 1 * *", timezone="America/New_York"),
        description="Monthly financial report generation for executive team",
        auto_activate=True,
        inputs={"report_date": flyte.TriggerTime, "report_type": "executive_summary", "include_forecasts": True},
        env_vars={"REPORT_OUTPUT_FORMAT": "PDF", "EMAIL_NOTIFICATIONS": "true"},
        interruptible=False,
        overwrite_cache=True,
        queue="financial-reports",
        labels={"team": "finance", "criticality": "high", "automation": "scheduled"},
        annotations={"compliance.company.com/sox-required": "true", "backup.company.com/retain-days": "2555"},
    )

    @trigger_env.task(triggers=comprehensive_trigger)
    def report(report_date: datetime, report_type: str, include_forecasts: bool) -> str:
        return report_type

    @trigger_env.task(triggers=[
        flyte.Trigger.hourly(), flyte.Trigger.daily(),
        flyte.Trigger("custom", flyte.Cron("0 */6 * * *")),
        flyte.Trigger("every_90", flyte.FixedRate(interval_minutes=120)),
        flyte.Trigger("custom_cron", flyte.Cron("0 0 * * *"), auto_activate=False),
    ])
    def multi_trigger_task(trigger_time: datetime = flyte.TriggerTime) -> str:
        return str(trigger_time)
""")


@pytest.fixture
def examples(tmp_path):
    path = tmp_path / "guide_examples.py"
    path.write_text(GUIDE_EXAMPLES)
    return path


def render(file: Path, target: str, *extra: str) -> str:
    result = CliRunner().invoke(build_cli(), ["render", str(file), target, *extra])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "target", ["hello_world", "ml-training", "gpus", "tpus", "custom", "env_1", "my_env", "trigger_env"]
)
def test_guide_examples_render_valid_objects(examples, tmp_path, target):
    out = tmp_path / f"{target}.yaml"
    out.write_text(render(examples, target))
    problems = validate_manifests(out)
    assert not problems, "\n".join(problems)


def test_every_setting_lands_where_the_table_says(examples):
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(render(examples, "hello_world"))}
    job = docs["hello-world-say-hello"]
    pod = job["spec"]["template"]["spec"]
    primary, sidecar = pod["containers"]
    assert primary["name"] == "primary" and primary["command"][:3] == ["python", "-m", "flyte.entrypoint"]
    assert {"name": "hello", "value": "world"} in primary["env"]
    assert primary["volumeMounts"] == [{"name": "data-volume", "mountPath": "/mnt/data"}]
    assert sidecar["name"] == "metrics-sidecar"
    assert pod["imagePullSecrets"] == [{"name": "regcred-test"}]
    assert job["spec"]["template"]["metadata"]["annotations"] == {"aKeyA": "aValA"}
    assert job["spec"]["template"]["metadata"]["labels"]["lKeyA"] == "lValA"

    gpu = yaml.safe_load(render(examples, "gpus"))["spec"]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert gpu["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-tesla-a100"
    tpu = yaml.safe_load(render(examples, "tpus"))["spec"]["template"]["spec"]
    assert tpu["containers"][0]["resources"]["limits"]["google.com/tpu"] == "4"
    assert tpu["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
        "cloud.google.com/gke-tpu-topology": "2x2x1",
    }

    res = yaml.safe_load(render(examples, "ml-training"))["spec"]["template"]["spec"]
    resources = res["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "50Gi"}
    assert resources["limits"] == {"cpu": "4", "memory": "12Gi", "ephemeral-storage": "50Gi"}
    assert {"name": "flyte-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in res["volumes"]

    sec = yaml.safe_load(render(examples, "env_1"))["spec"]["template"]["spec"]
    env = {e["name"]: e for e in sec["containers"][0]["env"]}
    assert env["MY_SECRET_ENV_VAR"]["valueFrom"] == {"secretKeyRef": {"name": "my-secret", "key": "my_secret"}}
    # Names only, for the entrypoint to mask their values before it imports the task's module.
    assert env["FLYTE_SECRET_ENV_VARS"] == {"name": "FLYTE_SECRET_ENV_VARS", "value": "MY_SECRET_ENV_VAR"}
    assert sec["volumes"][0]["projected"]["sources"][0]["secret"]["name"] == "my-file-secret"

    spot = yaml.safe_load(render(examples, "my_env"))
    spec = spot["spec"]["template"]["spec"]
    assert spot["spec"]["backoffLimit"] == 3 and spot["spec"]["activeDeadlineSeconds"] == 3600
    assert spec["activeDeadlineSeconds"] == 60
    assert spec["tolerations"][0]["key"] == "flyte.org/interruptible"
    assert spec["nodeSelector"]["flyte.org/queue"] == "gpu-pool"
    assert spot["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["type"] == "DisruptionTarget"


def test_triggers_render_as_cronjobs(examples):
    docs = [d for d in yaml.safe_load_all(render(examples, "trigger_env")) if d["kind"] == "CronJob"]
    by_name = {d["metadata"]["name"]: d for d in docs}
    monthly = by_name["trigger-env-report-monthly-financial-report"]
    assert monthly["spec"]["schedule"] == "0 6 1 * *" and monthly["spec"]["timeZone"] == "America/New_York"
    assert monthly["metadata"]["labels"]["team"] == "finance"
    container = monthly["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["FLYTE_INPUTS"]) == {"report_type": "executive_summary", "include_forecasts": True}
    assert env["FLYTE_TRIGGER_TIME_INPUTS"] == "report_date" and env["REPORT_OUTPUT_FORMAT"] == "PDF"
    assert env["FLYTE_OVERWRITE_CACHE"] == "true"
    schedules = {
        d["metadata"]["name"].removeprefix("trigger-env-multi-trigger-task-"): (
            d["spec"]["schedule"],
            d["spec"]["suspend"],
        )
        for d in docs
    }
    # No time zone given: UTC, explicitly (a CronJob without one follows the controller's zone).
    zones = {d["metadata"]["name"].removeprefix("trigger-env-multi-trigger-task-"): d["spec"]["timeZone"] for d in docs}
    assert zones["hourly"] == zones["custom-cron"] == zones["every-90"] == "UTC"
    assert schedules["hourly"] == ("0 * * * *", False)
    assert schedules["every-90"] == ("0 0-23/2 * * *", False)
    assert schedules["custom-cron"] == ("0 0 * * *", True)


def test_a_fixed_rate_cron_cannot_express_is_a_clear_error(tmp_path):
    path = tmp_path / "rate.py"
    path.write_text(
        textwrap.dedent("""
        import flyte
        env = flyte.TaskEnvironment(name="rates")

        @env.task(triggers=flyte.Trigger("every_90", flyte.FixedRate(90)))
        def t() -> None: ...
    """)
    )
    result = CliRunner().invoke(build_cli(), ["render", str(path), "t"])
    assert result.exit_code == 1 and "cannot be expressed exactly as a cron schedule" in result.output


def test_an_environment_renders_its_depends_on_tree_once_each(tmp_path):
    path = tmp_path / "tree.py"
    path.write_text(
        textwrap.dedent("""
        import flyte
        leaf = flyte.TaskEnvironment(name="leaf")
        left = flyte.TaskEnvironment(name="left", depends_on=[leaf])
        right = flyte.TaskEnvironment(name="right", depends_on=[leaf])
        root = flyte.TaskEnvironment(name="root", depends_on=[left, right])
        unrelated = flyte.TaskEnvironment(name="unrelated")

        @leaf.task
        def a() -> None: ...

        @left.task
        def b() -> None: ...

        @right.task
        def c() -> None: ...

        @root.task
        def d() -> None: ...

        @unrelated.task
        def e() -> None: ...
    """)
    )
    names = [d["metadata"]["name"] for d in json.loads(render(path, "root", "-o", "json", "--namespace", "ml"))]
    assert sorted(names) == ["leaf-a", "left-b", "right-c", "root-d"]
    doc = json.loads(render(path, "a", "-o", "json", "--namespace", "ml"))
    assert doc["metadata"]["namespace"] == "ml"


ENTRY = textwrap.dedent("""
    import os
    import flyte

    env = flyte.TaskEnvironment(name="entry", env_vars={"GREETING": "hej"})

    @env.task
    async def shout(word: str) -> str:
        return f"{os.environ['GREETING']} {word}".upper()

    @env.task
    async def pipeline(words: list[str], times: int = 2) -> dict[str, list[str]]:
        return {"out": [await shout(w) for w in words] * times}

    @env.task
    def refuse() -> None:
        raise flyte.errors.NonRecoverableError("bad input")
""")


def _run_container(job: dict, workdir: Path, storage: Path) -> subprocess.CompletedProcess[str]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {**os.environ}
    env.pop("FLYTE_HOME", None)
    env["FLYTE_HOME"] = str(storage / "home")
    for item in container["env"]:
        env[item["name"]] = item["value"]
    # The image's /root, here the folder holding the code (then the test's own path, if any).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), os.environ.get("PYTHONPATH")]))
    command = [sys.executable if c == "python" else c for c in container["command"]]
    return subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=120)


def test_a_rendered_job_runs_its_container_command_and_gets_the_right_output(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "entry_tasks.py").write_text(ENTRY)
    storage = tmp_path / "bucket"
    out = render(
        code / "entry_tasks.py",
        "pipeline",
        "-o",
        "json",
        "--storage",
        str(storage),
        "--inputs",
        '{"words": ["a", "b"]}',
    )
    job = json.loads(out)
    result = _run_container(job, code, storage)
    assert result.returncode == 0, result.stderr
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    outputs = Path(env["FLYTE_OUTPUTS_URI"])
    assert outputs.is_relative_to(storage)
    assert json.loads(outputs.read_text()) == {"out": ["HEJ A", "HEJ B", "HEJ A", "HEJ B"]}


def test_a_non_recoverable_error_exits_with_the_code_the_job_fails_on(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "entry_tasks.py").write_text(ENTRY)
    job = json.loads(render(code / "entry_tasks.py", "refuse", "-o", "json", "--storage", str(tmp_path / "s")))
    result = _run_container(job, code, tmp_path / "s")
    rule = job["spec"]["podFailurePolicy"]["rules"][1]
    assert result.returncode == rule["onExitCodes"]["values"][0] == 3
    assert "bad input" in result.stderr


def _example_files() -> list[Path]:
    return sorted(p for p in (REPO / "examples").rglob("*.py") if "src" not in p.parts and not p.name.startswith("_"))


@pytest.mark.parametrize("example", _example_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_renders_valid_objects(example, tmp_path):
    from flyte._loader import load_file
    from flyte.environment import TaskEnvironment

    module = load_file(example)
    envs = {id(v): v for v in vars(module).values() if isinstance(v, TaskEnvironment)}
    if not envs:
        pytest.skip(f"{example.name} defines no environment")
    out = tmp_path / "objects.yaml"
    docs = []
    for env in envs.values():
        docs.append(render(example, env.name))
    out.write_text("\n---\n".join(docs))
    problems = validate_manifests(out)
    assert not problems, "\n".join(problems)


SERVICE_ACCOUNTS = textwrap.dedent("""
    import flyte
    env = flyte.TaskEnvironment(name="identity", service_account="etl-runner")

    @env.task
    def load(day: str) -> str:
        return day

    @env.task(service_account="warehouse-writer")
    def write(rows: int) -> int:
        return rows
""")


def test_a_service_account_is_the_pods_and_the_most_specific_wins(tmp_path):
    path = tmp_path / "identity.py"
    path.write_text(SERVICE_ACCOUNTS)
    out = tmp_path / "identity.yaml"
    out.write_text(render(path, "identity"))
    assert not validate_manifests(out)
    jobs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out.read_text())}
    assert jobs["identity-load"]["spec"]["template"]["spec"]["serviceAccountName"] == "etl-runner"
    assert jobs["identity-write"]["spec"]["template"]["spec"]["serviceAccountName"] == "warehouse-writer"
    plain = yaml.safe_load(render(path, "identity.load", "--inputs", '{"day": "d"}'))
    assert plain["spec"]["template"]["spec"]["serviceAccountName"] == "etl-runner"


PLUGIN_IDENTITY = textwrap.dedent("""
    import flyte
    from flyteplugins.dask import Dask
    from flyteplugins.pytorch import Elastic
    from flyteplugins.ray import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

    ray_env = flyte.TaskEnvironment(
        name="ray_sa", service_account="ray-jobs",
        plugin_config=RayJobConfig(head_node_config=HeadNodeConfig(), worker_node_config=[WorkerNodeConfig(group_name="w", replicas=2)]),
    )
    dask_env = flyte.TaskEnvironment(name="dask_sa", service_account="dask-jobs", plugin_config=Dask())
    torch_env = flyte.TaskEnvironment(name="torch_sa", service_account="torch-jobs", plugin_config=Elastic(nnodes=2, nproc_per_node=1))

    @ray_env.task
    def on_ray() -> int:
        return 1

    @dask_env.task
    def on_dask() -> int:
        return 1

    @torch_env.task
    def on_torch() -> int:
        return 1
""")


def _pod_specs(node):
    """Every PodSpec in a rendered object (a dict with containers)."""
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield node
        for value in node.values():
            yield from _pod_specs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pod_specs(value)


@pytest.mark.parametrize(
    ("target", "account"), [("ray_sa", "ray-jobs"), ("dask_sa", "dask-jobs"), ("torch_sa", "torch-jobs")]
)
def test_every_pod_of_a_plugins_object_runs_as_the_service_account(tmp_path, target, account):
    path = tmp_path / "plugin_identity.py"
    path.write_text(PLUGIN_IDENTITY)
    out = tmp_path / f"{target}.yaml"
    out.write_text(render(path, target))
    assert not validate_manifests(out)
    pods = [pod for doc in yaml.safe_load_all(out.read_text()) for pod in _pod_specs(doc)]
    assert pods  # head and workers, scheduler and workers, the workers' replica template
    assert {pod.get("serviceAccountName") for pod in pods} == {account}


TRIGGER_OPTIONS = textwrap.dedent("""
    import asyncio, time
    import flyte

    env = flyte.TaskEnvironment(name="trig_opts")
    batch = flyte.Trigger(
        name="batch", automation=flyte.Cron("0 1 * * *"), max_action_concurrency=2, custom_context={"team": "finance"}
    )

    @env.task
    async def span(i: int) -> list[float]:
        start = time.monotonic()
        await asyncio.sleep(0.2)
        return [start, time.monotonic()]

    @env.task(triggers=batch)
    async def nightly(n: int = 4) -> dict:
        spans = await asyncio.gather(*(span(i) for i in range(n)))
        return {"spans": list(spans), "team": flyte.ctx().custom_context.get("team")}
""")


def test_a_triggers_run_options_reach_the_cronjobs_container_and_its_entrypoint(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "trig_opts.py").write_text(TRIGGER_OPTIONS)
    storage = tmp_path / "bucket"
    out = tmp_path / "trig.yaml"
    out.write_text(render(code / "trig_opts.py", "trig_opts", "--storage", str(storage)))
    assert not validate_manifests(out)
    (cron,) = [d for d in yaml.safe_load_all(out.read_text()) if d["kind"] == "CronJob"]
    job = cron["spec"]["jobTemplate"]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLYTE_MAX_ACTION_CONCURRENCY"] == "2" and json.loads(env["FLYTE_CUSTOM_CONTEXT"]) == {"team": "finance"}
    result = _run_container(job, code, storage)  # the pod's command, run here
    assert result.returncode == 0, result.stderr
    outputs = json.loads(Path(env["FLYTE_OUTPUTS_URI"]).read_text())
    assert outputs["team"] == "finance"
    assert max_overlap(outputs["spans"]) <= 2
