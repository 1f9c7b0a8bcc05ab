"""A Dask task as a Dask operator ``DaskJob`` (``kubernetes.dask.org/v1``).

Three pods, each built like any task's (image, env vars, secrets, resources, pod template):

- the job runner (container ``job-runner``, restart ``Never``) runs the task through the
  container entrypoint; ``DASK_SCHEDULER_ADDRESS`` points it at the job's scheduler Service,
  so the plugin joins that cluster instead of starting one, and a plain ``Client()`` in the
  task connects there;
- the scheduler (container ``scheduler``: ``dask scheduler``, ports ``tcp-comm`` 8786 and
  ``dashboard`` 8787, a readiness probe on ``/health``), never on interruptible nodes, with
  ``Scheduler.image``/``resources`` over the task's, behind a ``ClusterIP`` Service;
- ``number_of_workers`` workers (container ``worker``: ``dask worker`` with ``--nthreads`` and
  ``--memory-limit`` from the worker resources, limits else requests), with
  ``WorkerGroup.image``/``resources`` over the task's.

The operator names the cluster after the job and its scheduler Service ``<job>-scheduler``,
so the job name is at most 53 characters. The CRD embeds Kubernetes 1.21 types: quantities are
strings and probe ports are port names.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from flyte.extend import parse_quantity

SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
MAX_NAME = 63 - len("-scheduler")  # the operator's limit: the Service name is a DNS label
NAMESPACE_VAR = "FLYTE_DASK_NAMESPACE"
# The task's inputs and outputs concern the job runner only.
ENTRYPOINT_ONLY = ("FLYTE_INPUTS", "FLYTE_INPUTS_URI", "FLYTE_OUTPUTS_URI")


def render(spec: Any, ctx: Any) -> list[dict[str, Any]]:
    config = spec.plugin_config
    name = ctx.name(spec, max_len=MAX_NAME)

    job_pod = ctx.pod_spec(spec, container_name="job-runner", restart_policy="Never")
    runner = _container(job_pod, "job-runner")
    # The operator would add this too, but only for its own naming; spelling it out makes the
    # runner's cluster explicit and keeps working in whichever namespace the job is created.
    runner["env"] = [e for e in runner.get("env", []) if e["name"] not in ("DASK_SCHEDULER_ADDRESS", NAMESPACE_VAR)]
    runner["env"] += [
        {"name": NAMESPACE_VAR, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {
            "name": "DASK_SCHEDULER_ADDRESS",
            "value": f"tcp://{name}-scheduler.$({NAMESPACE_VAR}).svc.cluster.local:{SCHEDULER_PORT}",
        },
    ]

    scheduler_spec = attrs.evolve(spec, resources=config.scheduler.resources or spec.resources, interruptible=False)
    scheduler_pod = _service_pod(scheduler_spec, ctx, "scheduler", config.scheduler.image, ["dask", "scheduler"])
    scheduler = _container(scheduler_pod, "scheduler")
    scheduler["ports"] = [
        {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
        {"name": "dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
    ]
    scheduler.setdefault(
        "readinessProbe",
        {
            "httpGet": {"path": "/health", "port": "dashboard"},
            "initialDelaySeconds": 5,
            "periodSeconds": 5,
            "failureThreshold": 30,
        },
    )

    worker_resources = config.workers.resources or spec.resources
    worker_spec = attrs.evolve(spec, resources=worker_resources)
    worker_pod = _service_pod(
        worker_spec, ctx, "worker", config.workers.image, ["dask", "worker", *_worker_args(worker_resources)]
    )

    return [
        {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskJob",
            "metadata": {"name": name, "namespace": ctx.settings.namespace, "labels": ctx.labels(spec)},
            "spec": {
                "job": {"metadata": ctx.pod_metadata(spec), "spec": job_pod},
                "cluster": {
                    "spec": {
                        "scheduler": {
                            "metadata": ctx.pod_metadata(scheduler_spec),
                            "spec": scheduler_pod,
                            "service": {
                                "type": "ClusterIP",
                                "selector": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
                                "ports": [
                                    {"name": port, "protocol": "TCP", "port": number, "targetPort": port}
                                    for port, number in (("tcp-comm", SCHEDULER_PORT), ("dashboard", DASHBOARD_PORT))
                                ],
                            },
                        },
                        "worker": {
                            "replicas": config.workers.number_of_workers,
                            "metadata": ctx.pod_metadata(worker_spec),
                            "spec": worker_pod,
                        },
                    }
                },
            },
        }
    ]


def _service_pod(spec: Any, ctx: Any, container: str, image: str | None, args: list[str]) -> dict[str, Any]:
    """A scheduler or worker pod: the operator runs it as a Deployment (restart ``Always``, no
    deadline), its container runs ``args`` in the image instead of the task entrypoint."""
    pod = ctx.pod_spec(spec, container_name=container, restart_policy="Always")
    pod.pop("activeDeadlineSeconds", None)  # a Deployment's pods may not carry one
    main = _container(pod, container)
    main.pop("command", None)
    main["args"] = args
    main["env"] = [e for e in main.get("env", []) if e["name"] not in ENTRYPOINT_ONLY]
    if image is not None:
        main["image"] = image
    return pod


def _worker_args(resources: Any) -> list[str]:
    """``--name`` (the operator's worker name), and ``--nthreads``/``--memory-limit`` when the
    worker resources say (otherwise Dask sizes the worker from its container)."""
    args = ["--name", "$(DASK_WORKER_NAME)"]
    if resources is None:
        return args
    cpu = resources.limit("cpu") or resources.request("cpu")
    if cpu is not None:
        args += ["--nthreads", str(max(1, math.ceil(parse_quantity(cpu))))]
    memory = resources.limit("memory") or resources.request("memory")
    if memory is not None:
        args += ["--memory-limit", str(int(parse_quantity(memory)))]
    return args


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod["containers"] if c["name"] == name)
