"""A Spark task as a Spark operator ``SparkApplication`` (``sparkoperator.k8s.io/v1beta2``).

The operator runs spark-submit in cluster mode: the driver pod runs ``mainApplicationFile``
(``flyte-spark-entrypoint.py``, installed with this plugin: it starts flyte's container
entrypoint for the task) and Spark starts the executors. Both pods are built like any task's
pod (image, env vars, secrets, volumes, pod template) and handed over as pod templates; the
task's settings map to the application as follows:

- ``resources`` size the driver (the task runs there): ``cores`` (cpu request rounded up),
  ``coreRequest``/``coreLimit``, ``memory``/``memoryLimit``; ``spark.driver.*`` settings win.
  Executors are sized by ``spark.executor.*``, else by the ``executor_pod`` container's
  requests/limits (Spark ignores cpu and memory inside a pod template, so they are moved to
  the fields it reads). ``spark.executor.instances`` → ``executor.instances``.
- ``driver_pod`` / ``executor_pod`` → ``driver.template`` / ``executor.template`` over the
  task's pod template (the reference backend drops the executor's; we do not).
- env vars and secrets → both templates; ``retries`` → ``restartPolicy``; ``max_runtime`` →
  the driver pod's ``activeDeadlineSeconds``; ``interruptible`` → executors only (a
  preempted driver loses the application); the settings' ``ttl_seconds_after_finished`` →
  ``timeToLiveSeconds``.
"""

from __future__ import annotations

import math
import posixpath
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import attrs

from flyte.extend import parse_quantity

DRIVER = "spark-kubernetes-driver"  # the container names Spark itself gives the two pods
EXECUTOR = "spark-kubernetes-executor"
ENTRYPOINT = "flyte-spark-entrypoint.py"  # [project.scripts] of this distribution
SCRIPTS_DIR = "/usr/local/bin"  # where pip/uv --system put scripts in Debian and python images
DEFAULT_SPARK_VERSION = "4.0.0"
DRIVER_ONLY_ENV = ("FLYTE_INPUTS", "FLYTE_INPUTS_URI", "FLYTE_OUTPUTS_URI")
MIB = 1024 * 1024


def spark_version() -> str:
    try:
        return version("pyspark")
    except PackageNotFoundError:
        return DEFAULT_SPARK_VERSION


def application_file(config: Any) -> str:
    """``applications_path``, else the entrypoint script next to ``executor_path``'s interpreter
    (a virtualenv's bin folder), else in /usr/local/bin."""
    if config.applications_path:
        path = config.applications_path
        return path if "://" in path else f"local://{path}"
    folder = posixpath.dirname(config.executor_path) if config.executor_path else SCRIPTS_DIR
    return f"local://{folder}/{ENTRYPOINT}"


def _spark_memory(quantity: str | None) -> str | None:
    """A Kubernetes memory quantity as a Spark size in MiB ("3000Mi" → "3000m")."""
    value = parse_quantity(quantity) if quantity else None
    return None if value is None else f"{max(1, math.ceil(value / MIB))}m"


def _cores(quantity: str | None) -> int | None:
    value = parse_quantity(quantity) if quantity else None
    return None if value is None else max(1, math.ceil(value))


def _pod(spec: Any, ctx: Any, container: str, role: str) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """(pod template for the role, its primary container's cpu/memory requests and limits)."""
    template = ctx.pod_template(spec)
    primary_name = template.primary_container_name if template is not None else container
    pod = ctx.pod_spec(spec, container_name=primary_name, restart_policy=None)
    if role == "executor":
        pod.pop("activeDeadlineSeconds", None)  # the driver's deadline ends the application
    primary = next(c for c in pod["containers"] if c["name"] == primary_name)
    pod["containers"] = [primary, *(c for c in pod["containers"] if c is not primary)]  # Spark takes the first
    primary["name"] = container
    for key in ("command", "args"):  # spark-submit and Spark's entrypoint run in it
        primary.pop(key, None)
    if role == "executor":
        primary["env"] = [e for e in primary.get("env", []) if e["name"] not in DRIVER_ONLY_ENV]
    sizes: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    resources = primary.pop("resources", {})
    for kind in ("requests", "limits"):
        rest = dict(resources.get(kind) or {})
        for name in ("cpu", "memory"):
            if name in rest:
                sizes[kind][name] = str(rest.pop(name))
        if rest:  # GPUs, ephemeral storage: Spark keeps these from the template
            primary.setdefault("resources", {})[kind] = rest
    return {"metadata": ctx.pod_metadata(spec), "spec": pod}, sizes


def _sizing(conf: dict[str, str], role: str, sizes: dict[str, dict[str, str]]) -> dict[str, Any]:
    request_cpu, limit_cpu = sizes["requests"].get("cpu"), sizes["limits"].get("cpu")
    request_mem, limit_mem = sizes["requests"].get("memory"), sizes["limits"].get("memory")
    out: dict[str, Any] = {}
    cores = conf.get(f"spark.{role}.cores")
    cores_value = int(cores) if cores is not None else _cores(request_cpu or limit_cpu)
    if cores_value is not None:
        out["cores"] = cores_value
    if request_cpu and f"spark.kubernetes.{role}.request.cores" not in conf:
        out["coreRequest"] = request_cpu
    if limit_cpu and f"spark.kubernetes.{role}.limit.cores" not in conf:
        out["coreLimit"] = limit_cpu
    memory = conf.get(f"spark.{role}.memory") or _spark_memory(request_mem or limit_mem)
    if memory:
        out["memory"] = memory
    if limit_mem:
        out["memoryLimit"] = limit_mem
    return out


def _restart_policy(retries: Any) -> dict[str, Any]:
    if retries.count == 0:
        return {"type": "Never"}
    policy: dict[str, Any] = {
        "type": "OnFailure",
        "onFailureRetries": retries.count,
        "onSubmissionFailureRetries": retries.count,
    }
    if retries.backoff is not None:  # the operator waits a fixed interval between retries
        seconds = max(1, int(retries.backoff.base.total_seconds()))
        policy["onFailureRetryInterval"] = policy["onSubmissionFailureRetryInterval"] = seconds
    return policy


def render(spec: Any, ctx: Any) -> list[dict[str, Any]]:
    config = spec.plugin_config
    conf = dict(config.spark_conf)
    if config.executor_path:
        conf.setdefault("spark.pyspark.python", config.executor_path)
        conf.setdefault("spark.pyspark.driver.python", config.executor_path)

    # The task's resources size the driver, where the task runs; executors are sized by their
    # own settings. A preempted driver loses the whole application: only executors are spot.
    driver_spec = attrs.evolve(spec, interruptible=False, pod_template=config.driver_pod or spec.pod_template)
    executor_spec = attrs.evolve(spec, resources=None, pod_template=config.executor_pod or spec.pod_template)
    driver_template, driver_sizes = _pod(driver_spec, ctx, DRIVER, "driver")
    executor_template, executor_sizes = _pod(executor_spec, ctx, EXECUTOR, "executor")
    driver = {**_sizing(conf, "driver", driver_sizes), "template": driver_template}
    executor: dict[str, Any] = {**_sizing(conf, "executor", executor_sizes), "template": executor_template}
    if "spark.executor.instances" in conf:
        executor["instances"] = int(conf["spark.executor.instances"])
    if spec.service_account:  # the operator's spark-submit reads these, not the templates'
        driver["serviceAccount"] = executor["serviceAccount"] = spec.service_account

    app: dict[str, Any] = {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": next(c["image"] for c in driver_template["spec"]["containers"] if c["name"] == DRIVER),
        "mainApplicationFile": application_file(config),
        "arguments": ["--module", spec.module, "--task", spec.function_name],
        "sparkVersion": spark_version(),
        "restartPolicy": _restart_policy(spec.retries),
        "driver": driver,
        "executor": executor,
    }
    if conf:
        app["sparkConf"] = conf
    if config.hadoop_conf:
        app["hadoopConf"] = dict(config.hadoop_conf)
    pull = driver_template["spec"].get("imagePullSecrets")
    if pull:
        app["imagePullSecrets"] = [p["name"] for p in pull]
    if ctx.settings.ttl_seconds_after_finished is not None:
        app["timeToLiveSeconds"] = ctx.settings.ttl_seconds_after_finished
    return [
        {
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            # The driver pod is "<name>-driver": keep that within a DNS label.
            "metadata": {
                "name": ctx.name(spec, max_len=56),
                "namespace": ctx.settings.namespace,
                "labels": ctx.labels(spec),
            },
            "spec": app,
        }
    ]
