"""A Ray task as a KubeRay ``RayJob`` (``ray.io/v1``).

The head and each worker group get a pod built like any task's (image, env, secrets, resources,
pod template), with the group's own pod template and requests/limits over the task's. KubeRay
starts Ray in those containers (``ray start`` with ``rayStartParams``); the job's
``entrypoint`` is the container entrypoint that runs the task on the head.
"""

from __future__ import annotations

import shlex
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import attrs

from flyte.extend import resource_quantities, thaw

HEAD_PORTS = [
    {"containerPort": 6379, "name": "gcs-server"},
    {"containerPort": 8265, "name": "dashboard"},
    {"containerPort": 10001, "name": "client"},
]
PASSED_ENV = ("PYTHONPATH", "FLYTE_STORAGE", "FLYTE_INPUTS", "FLYTE_OUTPUTS_URI")


def _ray_version() -> str | None:
    try:
        return version("ray")
    except PackageNotFoundError:
        return None


def _group_template(spec: Any, ctx: Any, group: Any, container: str) -> dict[str, Any]:
    group_spec = spec
    if group is not None and group.pod_template is not None:
        group_spec = attrs.evolve(spec, pod_template=group.pod_template)
    pod = ctx.pod_spec(group_spec, container_name=container, restart_policy=None)
    pod.pop("activeDeadlineSeconds", None)  # the RayJob carries the deadline
    primary = next(c for c in pod["containers"] if c["name"] == container)
    primary.pop("command", None)  # KubeRay runs `ray start` in this container
    if group is not None and (group.requests is not None or group.limits is not None):
        requests, _ = resource_quantities(group.requests)
        _, limits = resource_quantities(group.limits)
        primary["resources"] = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    metadata = ctx.pod_metadata(group_spec)
    return {"metadata": metadata, "spec": pod}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def render(spec: Any, ctx: Any) -> list[dict[str, Any]]:
    import yaml

    config = spec.plugin_config
    head = _group_template(spec, ctx, config.head_node_config, "ray-head")
    head_container = next(c for c in head["spec"]["containers"] if c["name"] == "ray-head")
    head_container["ports"] = HEAD_PORTS
    workers = []
    for group in config.worker_node_config:
        low, high = group.bounds
        workers.append(
            {
                "groupName": group.group_name,
                "replicas": group.replicas,
                "minReplicas": low,
                "maxReplicas": high,
                "rayStartParams": dict(group.ray_start_params or {}),
                "template": _group_template(spec, ctx, group, "ray-worker"),
            }
        )
    cluster: dict[str, Any] = {
        "enableInTreeAutoscaling": config.enable_autoscaling,
        "headGroupSpec": {
            "rayStartParams": dict(
                (config.head_node_config.ray_start_params if config.head_node_config else None) or {}
            ),
            "template": head,
        },
        "workerGroupSpecs": workers,
    }
    if _ray_version():
        cluster["rayVersion"] = _ray_version()
    if config.autoscaler_options:
        cluster["autoscalerOptions"] = {_camel(k): thaw(v) for k, v in config.autoscaler_options.items()}

    # The driver runs under `ray job submit` on the head: hand it the entrypoint's environment
    # through the runtime env as well, so it does not depend on what the submitter inherits.
    env = {
        e["name"]: e["value"]
        for e in head_container["env"]
        if "value" in e and e["name"] in (*PASSED_ENV, *spec.env_vars)
    }
    runtime_env = thaw(config.runtime_env or {})
    runtime_env["env_vars"] = {**env, **(runtime_env.get("env_vars") or {})}
    job: dict[str, Any] = {
        "entrypoint": " ".join(shlex.quote(part) for part in ctx.command(spec)),
        "runtimeEnvYAML": yaml.safe_dump(runtime_env, sort_keys=True),
        "shutdownAfterJobFinishes": config.shutdown_after_job_finishes,
        "backoffLimit": spec.retries.count,
        "rayClusterSpec": cluster,
    }
    if config.ttl_seconds_after_finished is not None:
        job["ttlSecondsAfterFinished"] = config.ttl_seconds_after_finished
    if spec.timeout is not None and (spec.timeout.deadline or spec.timeout.max_runtime):
        limit = spec.timeout.deadline or spec.timeout.max_runtime
        job["activeDeadlineSeconds"] = max(1, int(limit.total_seconds()))
    return [
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayJob",
            "metadata": {
                "name": ctx.name(spec, max_len=47),
                "namespace": ctx.settings.namespace,
                "labels": ctx.labels(spec),
            },
            "spec": job,
        }
    ]
