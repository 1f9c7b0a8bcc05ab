"""The rendered SparkApplication: every setting in its place, valid against the operator's CRD,
its phase read from the operator's status, and its driver command run by a real spark-submit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyspark
import pytest
import yaml
from kubernetes.client import V1Container, V1PodSpec, V1Toleration, V1Volume, V1VolumeMount

import flyte
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.render import render_task
from flyteplugins.spark import Spark
from flyteplugins.spark._hooks import _phase

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import render_valid, validate_manifests

executor_pod = flyte.PodTemplate(
    pod_spec=V1PodSpec(
        containers=[
            V1Container(
                name="worker",
                resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "3", "memory": "6Gi"}},
                volume_mounts=[V1VolumeMount(name="scratch", mount_path="/scratch")],
            ),
            V1Container(name="sidecar", image="busybox"),
        ],
        volumes=[V1Volume(name="scratch", empty_dir={})],
        tolerations=[V1Toleration(key="spark-executors", operator="Exists")],
    ),
    primary_container_name="worker",
    labels={"role": "executor"},
)
driver_pod = flyte.PodTemplate(
    pod_spec=V1PodSpec(containers=[V1Container(name="primary")], service_account_name="spark"),
    labels={"role": "driver"},
)
CONFIG = Spark(
    spark_conf={"spark.executor.instances": 4, "spark.sql.shuffle.partitions": 8, "spark.kubernetes.namespace": "x"},
    hadoop_conf={"fs.s3a.endpoint": "http://minio:9000"},
    executor_path="/opt/venv/bin/python",
    driver_pod=driver_pod,
    executor_pod=executor_pod,
)
env = flyte.TaskEnvironment(
    name="spark_render",
    plugin_config=CONFIG,
    image=flyte.Image.from_debian_base(name="spark-img", registry="ghcr.io/me", registry_secret="ghcr-pull"),
    resources=flyte.Resources(cpu=("500m", 2), memory=("1Gi", "2Gi")),
    env_vars={"STAGE": "prod"},
    secrets=[
        flyte.Secret(key="db-password", as_env_var="DB_PASSWORD"),
        flyte.Secret(key="gcp-key", mount="/etc/flyte/secrets"),
    ],
    interruptible=True,
)


@env.task(retries=flyte.RetryStrategy(count=3, backoff=flyte.Backoff(base=20)), timeout=600)
async def etl(day: str = "2026-01-01") -> int:
    return len(day)


def _container(template: dict, name: str) -> dict:
    return next(c for c in template["spec"]["containers"] if c["name"] == name)


def test_every_setting_lands_in_the_spark_application(tmp_path):
    app = render_valid(etl, tmp_path)
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2" and app["kind"] == "SparkApplication"
    spec = app["spec"]
    assert (spec["type"], spec["mode"], spec["pythonVersion"]) == ("Python", "cluster", "3")
    assert spec["image"].startswith("ghcr.io/me/spark-img:")
    assert spec["imagePullSecrets"] == ["ghcr-pull"]
    assert spec["mainApplicationFile"] == "local:///opt/venv/bin/flyte-spark-entrypoint.py"  # beside executor_path
    assert spec["arguments"] == ["--module", etl.spec.module, "--task", "etl"]
    assert spec["sparkConf"]["spark.sql.shuffle.partitions"] == "8"
    assert spec["sparkConf"]["spark.pyspark.python"] == "/opt/venv/bin/python"
    assert spec["hadoopConf"] == {"fs.s3a.endpoint": "http://minio:9000"}
    assert spec["restartPolicy"] == {
        "type": "OnFailure",
        "onFailureRetries": 3,
        "onSubmissionFailureRetries": 3,
        "onFailureRetryInterval": 20,
        "onSubmissionFailureRetryInterval": 20,
    }
    assert spec["timeToLiveSeconds"] == 3600

    driver, executor = spec["driver"], spec["executor"]
    # The task's resources size the driver, in the fields Spark reads.
    assert {k: driver[k] for k in ("cores", "coreRequest", "coreLimit", "memory", "memoryLimit")} == {
        "cores": 1,
        "coreRequest": "500m",
        "coreLimit": "2",
        "memory": "1024m",
        "memoryLimit": "2Gi",
    }
    # The executor pod template's requests/limits size the executors (Spark ignores them in a template).
    assert {k: executor[k] for k in ("instances", "cores", "coreRequest", "coreLimit", "memory", "memoryLimit")} == {
        "instances": 4,
        "cores": 2,
        "coreRequest": "2",
        "coreLimit": "3",
        "memory": "4096m",
        "memoryLimit": "6Gi",
    }
    driver_container = _container(driver["template"], "spark-kubernetes-driver")
    executor_container = _container(executor["template"], "spark-kubernetes-executor")
    assert executor["template"]["spec"]["containers"][0] is executor_container  # Spark takes the first
    assert [c["name"] for c in executor["template"]["spec"]["containers"]] == ["spark-kubernetes-executor", "sidecar"]
    for container in (driver_container, executor_container):
        env_vars = {e["name"]: e for e in container["env"]}
        assert env_vars["STAGE"]["value"] == "prod"
        assert env_vars["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "db-password", "key": "db-password"}
        assert "command" not in container and "args" not in container
        assert "cpu" not in json.dumps(container.get("resources", {}))
        assert any(m["mountPath"] == "/etc/flyte/secrets" for m in container["volumeMounts"])
    assert "FLYTE_OUTPUTS_URI" in {e["name"] for e in driver_container["env"]}
    assert "FLYTE_INPUTS" not in {e["name"] for e in executor_container["env"]}
    assert {"name": "scratch", "mountPath": "/scratch"} in executor_container["volumeMounts"]
    executor_spec = executor["template"]["spec"]
    assert {"key": "spark-executors", "operator": "Exists"} in executor_spec["tolerations"]  # not dropped
    assert any(t["key"] == "flyte.org/interruptible" for t in executor_spec["tolerations"])  # executors may be spot
    assert "tolerations" not in driver["template"]["spec"]  # the driver is not
    assert driver["template"]["spec"]["serviceAccountName"] == "spark"
    assert driver["template"]["spec"]["activeDeadlineSeconds"] == 600
    assert "activeDeadlineSeconds" not in executor_spec
    assert driver["template"]["metadata"]["labels"]["role"] == "driver"
    assert executor["template"]["metadata"]["labels"]["role"] == "executor"
    assert "db-password" not in json.dumps(app).replace('"db-password"', "")  # references, never values


def test_a_service_account_reaches_spark_submit_and_every_pod(tmp_path):
    app = render_valid(etl.override(service_account="spark-jobs"), tmp_path)
    driver, executor = app["spec"]["driver"], app["spec"]["executor"]
    assert driver["serviceAccount"] == executor["serviceAccount"] == "spark-jobs"
    assert driver["template"]["spec"]["serviceAccountName"] == "spark-jobs"
    assert executor["template"]["spec"]["serviceAccountName"] == "spark-jobs"
    # Without one, the operator's own default applies: nothing is set beyond the pod templates'.
    plain = render_valid(etl, tmp_path)["spec"]
    assert "serviceAccount" not in plain["driver"] and "serviceAccount" not in plain["executor"]


def test_defaults_and_the_application_path(tmp_path):
    plain_env = flyte.TaskEnvironment(name="spark_min", plugin_config=Spark())

    @plain_env.task
    async def minimal() -> None:
        return None

    app = render_valid(minimal, tmp_path)["spec"]
    assert app["mainApplicationFile"] == "local:///usr/local/bin/flyte-spark-entrypoint.py"
    assert app["restartPolicy"] == {"type": "Never"}
    assert "sparkConf" not in app and "instances" not in app["executor"]
    custom = minimal.override(plugin_config=Spark(applications_path="/app/run.py"))
    assert render_valid(custom, tmp_path)["spec"]["mainApplicationFile"] == "local:///app/run.py"


@pytest.mark.parametrize(
    "status, phase",
    [
        ({}, None),
        ({"applicationState": {"state": "SUBMITTED"}}, None),
        ({"applicationState": {"state": "RUNNING"}}, None),
        ({"applicationState": {"state": "PENDING_RERUN"}}, None),
        ({"applicationState": {"state": "COMPLETED"}}, "SUCCEEDED"),
        ({"applicationState": {"state": "FAILED", "errorMessage": "driver OOM"}}, "FAILED"),
        ({"applicationState": {"state": "SUBMISSION_FAILED"}}, "FAILED"),
    ],
)
def test_the_phase_is_read_from_the_application_state(status, phase):
    assert _phase(status) == phase


SUBMITTED = textwrap.dedent("""
    import flyte
    from pyspark.sql import SparkSession
    from flyteplugins.spark import Spark, spark_session

    env = flyte.TaskEnvironment(
        name="submitted",
        plugin_config=Spark(spark_conf={"spark.sql.shuffle.partitions": 5, "spark.ui.enabled": False}),
    )


    def triple(x):
        return 3 * x


    @env.task
    async def in_driver(n: int) -> dict:
        spark = spark_session()
        return {
            "master": spark.sparkContext.master,
            "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
            "same": SparkSession.builder.getOrCreate() is spark,
            "sum": spark.sparkContext.parallelize(range(n), 2).map(triple).sum(),
        }
""")


@pytest.mark.slow
def test_the_driver_runs_the_task_under_a_real_spark_submit(tmp_path):
    """What the operator does in the driver pod, here with a local master: spark-submit runs
    mainApplicationFile with the rendered arguments, conf and environment; the task uses the
    session spark-submit configured and writes its outputs."""
    (tmp_path / "submitted_tasks.py").write_text(SUBMITTED)
    sys.path.insert(0, str(tmp_path))
    try:
        import submitted_tasks
    finally:
        sys.path.remove(str(tmp_path))
    task = submitted_tasks.in_driver.override(
        plugin_config=Spark(executor_path=sys.executable).with_spark_conf(
            dict(submitted_tasks.in_driver.spec.plugin_config.spark_conf)
        )
    )
    settings = RenderSettings(workdir=str(tmp_path), storage=str(tmp_path / "storage"))
    (app,) = render_task(task, RenderContext(settings=settings, inputs={"n": 4}))
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(app))
    assert validate_manifests(tmp_path / "app.yaml") == []
    spec = app["spec"]
    driver = next(c for c in spec["driver"]["template"]["spec"]["containers"] if c["name"] == "spark-kubernetes-driver")
    environ = {**os.environ, **{e["name"]: e["value"] for e in driver["env"] if "value" in e}}
    main_file = spec["mainApplicationFile"].removeprefix("local://")
    assert Path(main_file).exists(), "flyte-spark-entrypoint.py is installed beside the interpreter"
    conf = [arg for key, value in spec["sparkConf"].items() for arg in ("--conf", f"{key}={value}")]
    spark_home = Path(pyspark.__file__).parent  # pip's pyspark is a Spark distribution
    result = subprocess.run(
        [str(spark_home / "bin" / "spark-submit"), "--master", "local[1]", *conf, main_file, *spec["arguments"]],
        env={**environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = Path(environ["FLYTE_OUTPUTS_URI"])
    assert json.loads(outputs.read_text()) == {"master": "local[1]", "partitions": "5", "same": True, "sum": 18}
