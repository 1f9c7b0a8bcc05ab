"""An ``Elastic`` task as a Kubeflow ``PyTorchJob`` (``kubeflow.org/v1``).

Every node is a ``Worker`` replica: a pod built like any task's (image, resources, env,
secrets, pod template) whose container is named ``pytorch``, as the training operator expects.
Each pod runs the task's container entrypoint; the plugin sees the operator's ``PET_*``
variables there and starts one torch elastic agent joining the job's rendezvous. The pod that
ends up with rank 0 writes the task's outputs.

- ``nnodes`` → ``elasticPolicy.minReplicas``/``maxReplicas`` and ``replicas`` (the maximum)
- ``nproc_per_node`` → ``spec.nprocPerNode`` and ``elasticPolicy.nProcPerNode`` (older operators)
- ``rdzv_backend``, ``max_restarts``, ``rdzv_configs`` → ``elasticPolicy``
- ``RunPolicy`` → ``runPolicy``; without one, ``backoffLimit`` comes from the task's retries
  and ``activeDeadlineSeconds`` from its timeout
- ``nccl_*`` → ``TORCH_NCCL_*`` environment variables of the container
"""

from __future__ import annotations

from typing import Any

CONTAINER = "pytorch"


def render(spec: Any, ctx: Any) -> list[dict[str, Any]]:
    config = spec.plugin_config
    low, high = config.node_range
    name = ctx.name(spec)
    pod = ctx.pod_spec(spec, container_name=CONTAINER, restart_policy=None)
    pod.pop("activeDeadlineSeconds", None)  # the job's runPolicy carries the deadline
    container = next(c for c in pod["containers"] if c["name"] == CONTAINER)
    env = container.setdefault("env", [])
    present = {e["name"] for e in env}
    extra = {**config.nccl_env(), "PYTHONUNBUFFERED": "1", "FLYTE_TORCH_RUN_ID": name}
    env.extend({"name": k, "value": v} for k, v in extra.items() if k not in present)

    elastic: dict[str, Any] = {
        "rdzvBackend": config.rdzv_backend,
        "rdzvId": name,
        "minReplicas": low,
        "maxReplicas": high,
        "nProcPerNode": config.nproc_per_node,
        "maxRestarts": config.max_restarts,
    }
    if config.rdzv_configs:
        elastic["rdzvConf"] = [{"key": k, "value": _text(v)} for k, v in sorted(config.rdzv_configs.items())]

    retries = spec.retries.count if spec.retries is not None else 0
    run_policy: dict[str, Any] = {"backoffLimit": retries}
    limit = spec.timeout and (spec.timeout.deadline or spec.timeout.max_runtime)
    if limit:
        run_policy["activeDeadlineSeconds"] = max(1, int(limit.total_seconds()))
    if ctx.settings.ttl_seconds_after_finished is not None:
        run_policy["ttlSecondsAfterFinished"] = ctx.settings.ttl_seconds_after_finished
    policy = config.run_policy
    if policy is not None:
        for key, value in (
            ("cleanPodPolicy", policy.clean_pod_policy),
            ("ttlSecondsAfterFinished", policy.ttl_seconds_after_finished),
            ("activeDeadlineSeconds", policy.active_deadline_seconds),
            ("backoffLimit", policy.backoff_limit),
        ):
            if value is not None:
                run_policy[key] = value

    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": ctx.settings.namespace, "labels": ctx.labels(spec)},
        "spec": {
            "nprocPerNode": str(config.nproc_per_node),
            "elasticPolicy": elastic,
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": {
                "Worker": {
                    "replicas": high,
                    # Restarts in place are the elastic agent's job; a failed pod counts
                    # against backoffLimit only when the task may be retried.
                    "restartPolicy": "OnFailure" if run_policy["backoffLimit"] else "Never",
                    "template": {"metadata": ctx.pod_metadata(spec), "spec": pod},
                }
            },
        },
    }
    return [job]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
