"""A clustered task as a Kubernetes JobSet (``jobset.x-k8s.io/v1alpha2``).

One replicated job, ``node``, of one Indexed Job: ``replicas`` pods (``parallelism`` =
``completions`` = ``replicas``), each a node of the set running ``nproc_per_node`` workers. The
pod is built exactly as a plain task's (image, resources, env, secrets, pod template; see
:mod:`flyte.render.pod`); its container runs ``python -m flyte.entrypoint ... --clustered``,
which reads its place from the JobSet's environment (:mod:`flyte.clustered._pod`) and starts
the node's workers.

- ``replicas`` → the Job's ``parallelism`` and ``completions``; each pod's
  ``JOB_COMPLETION_INDEX`` (set by Kubernetes) is its node rank
- ``network.enableDNSHostnames``: every pod is reachable as
  ``<jobset>-node-0-<index>.<jobset>`` through the JobSet's headless service; node 0's name is
  ``MASTER_ADDR``, ``MASTER_PORT`` is 29500
- ``backoffLimit: 0``: a failed pod fails its Job, and JobSet restarts every Job together
  (``failurePolicy.maxRestarts``). That budget is ``failure_policy.max_restarts`` for each of the
  task's ``1 + retries`` attempts: ``(max_restarts + 1) * (retries + 1) - 1`` in all; the pods
  count attempts and restarts from ``JOBSET_RESTART_ATTEMPT``
- a ``NonRecoverableError`` (the entrypoint's exit code 3) fails the JobSet at once, through
  the Job's pod failure policy (reason ``PodFailurePolicy``) and a ``FailJobSet`` rule
- ``restart_on_host_maintenance=True``: a pod evicted from its node (condition
  ``DisruptionTarget``) restarts the set without using the budget
  (``RestartJobSetAndIgnoreMaxRestarts``). JobSet tells a Job's failures apart only by their
  reason, and both pod failure policy rules give ``PodFailurePolicy``: with this option a
  ``NonRecoverableError`` counts as an ordinary failure (restarted within the budget)
- ``ttl_seconds_after_finished`` (else the cluster setting) → the JobSet's
- ``Timeout.max_runtime`` → each pod's ``activeDeadlineSeconds`` (as for a plain task: a pod
  past it fails, and the set restarts within the budget); ``Timeout.deadline`` → the Job's
  ``activeDeadlineSeconds`` and a rule that fails the JobSet when a Job passes it (reason
  ``DeadlineExceeded``): a deadline is never restarted. It counts from each round's start; a
  run followed by the Kubernetes backend is also deleted when the whole deadline has passed
"""

from __future__ import annotations

from typing import Any

from flyte.clustered.config import ClusteredSettings, TorchRun

API_VERSION = "jobset.x-k8s.io/v1alpha2"
REPLICATED_JOB = "node"
MASTER_PORT = 29500
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
RESTART_ATTEMPT_LABEL = "jobset.sigs.k8s.io/restart-attempt"
# The entrypoint's exit code for a NonRecoverableError (flyte.entrypoint.NON_RECOVERABLE_EXIT).
NON_RECOVERABLE_EXIT = 3
# A Job's pods are named "<job>-<index>-<5 random characters>", and JobSet's webhook wants the
# longest such name to be a DNS label (63 characters), the Job being "<jobset>-node-<job index>".
_POD_NAME_RANDOM_SUFFIX = 6


def name_limit(replicas: int) -> int:
    """The longest JobSet name whose pods' names all stay DNS labels (JobSet's webhook refuses
    the JobSet otherwise)."""
    return 63 - _POD_NAME_RANDOM_SUFFIX - len(f"-{REPLICATED_JOB}-0-{replicas - 1}")


def render(spec: Any, ctx: Any) -> list[dict[str, Any]]:
    """The task's JobSet (see the module docstring for the mapping)."""
    settings: ClusteredSettings = spec.plugin_config
    settings.check_gpus(spec.resources)  # an override may have changed either
    name = ctx.name(spec, max_len=min(63, name_limit(settings.replicas)))
    pod = ctx.pod_spec(spec)  # restartPolicy: Never, which a pod failure policy requires
    template = ctx.pod_template(spec)
    primary = template.primary_container_name if template is not None else "primary"
    container = next(c for c in pod["containers"] if c["name"] == primary)
    container["command"] = [*container["command"], "--clustered"]
    container["env"] = _with_env(container["env"], _node_env(settings))

    job: dict[str, Any] = {
        "completionMode": "Indexed",
        "parallelism": settings.replicas,
        "completions": settings.replicas,
        "backoffLimit": 0,
        "podFailurePolicy": {"rules": _pod_failure_rules(settings, primary)},
        "template": {"metadata": ctx.pod_metadata(spec), "spec": pod},
    }
    if spec.timeout is not None and spec.timeout.deadline is not None:
        job["activeDeadlineSeconds"] = max(1, int(spec.timeout.deadline.total_seconds()))

    jobset: dict[str, Any] = {
        "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
        "failurePolicy": {
            "maxRestarts": total_restarts(settings, spec.retries.count if spec.retries is not None else 0),
            "rules": _jobset_failure_rules(settings, deadline="activeDeadlineSeconds" in job),
        },
        "replicatedJobs": [{"name": REPLICATED_JOB, "replicas": 1, "template": {"spec": job}}],
    }
    ttl = settings.ttl_seconds_after_finished
    if ttl is None:
        ttl = ctx.settings.ttl_seconds_after_finished
    if ttl is not None:
        jobset["ttlSecondsAfterFinished"] = ttl
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "JobSet",
            "metadata": {"name": name, "namespace": ctx.settings.namespace, "labels": ctx.labels(spec)},
            "spec": jobset,
        }
    ]


def total_restarts(settings: ClusteredSettings, retries: int) -> int:
    """JobSet's whole restart budget: ``failure_policy.max_restarts`` restarts in each of the
    task's ``1 + retries`` attempts (every attempt starts the set once more)."""
    return (settings.failure_policy.max_restarts + 1) * (retries + 1) - 1


def _node_env(settings: ClusteredSettings) -> list[dict[str, Any]]:
    """What the in-pod launcher reads, besides ``JOB_COMPLETION_INDEX`` (Kubernetes sets it in
    an Indexed Job's pods). The JobSet's name comes from its label, not from this object: the
    Kubernetes backend renames the object for each run."""
    env: list[dict[str, Any]] = [
        _field("JOBSET_NAME", f"metadata.labels['{JOBSET_NAME_LABEL}']"),
        _field("POD_NAMESPACE", "metadata.namespace"),
        _field("JOBSET_RESTART_ATTEMPT", f"metadata.labels['{RESTART_ATTEMPT_LABEL}']"),
        {"name": "NNODES", "value": str(settings.replicas)},
        {"name": "NPROC_PER_NODE", "value": str(settings.nproc_per_node)},
        {"name": "MASTER_PORT", "value": str(MASTER_PORT)},
    ]
    if isinstance(settings.runtime, TorchRun):
        env.append({"name": "RDZV_BACKEND", "value": settings.runtime.rdzv_backend})
    return env


def _field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _with_env(env: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``env`` with ``extra`` replacing entries of the same name (a custom resource refuses a
    name twice; the launcher's variables must be these)."""
    names = {e["name"] for e in extra}
    return [e for e in env if e["name"] not in names] + extra


def _pod_failure_rules(settings: ClusteredSettings, container: str) -> list[dict[str, Any]]:
    if settings.failure_policy.restart_on_host_maintenance:
        return [{"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    exit_codes = {"containerName": container, "operator": "In", "values": [NON_RECOVERABLE_EXIT]}
    return [{"action": "FailJob", "onExitCodes": exit_codes}]


def _jobset_failure_rules(settings: ClusteredSettings, deadline: bool) -> list[dict[str, Any]]:
    rules = []
    if deadline:
        rules.append({"name": "deadline", "action": "FailJobSet", "onJobFailureReasons": ["DeadlineExceeded"]})
    if settings.failure_policy.restart_on_host_maintenance:
        action, rule = "RestartJobSetAndIgnoreMaxRestarts", "hostMaintenance"
    else:
        action, rule = "FailJobSet", "nonRecoverableError"
    rules.append({"name": rule, "action": action, "onJobFailureReasons": ["PodFailurePolicy"]})
    return rules


def phase(status: dict[str, Any]) -> str | None:
    """``SUCCEEDED``/``FAILED`` from the JobSet's ``Completed``/``Failed`` condition (its
    ``terminalState`` says the same); None while it runs or restarts."""
    for condition in status.get("conditions") or []:
        if str(condition.get("status")) != "True":
            continue
        if condition.get("type") == "Completed":
            return "SUCCEEDED"
        if condition.get("type") == "Failed":
            return "FAILED"
    return {"Completed": "SUCCEEDED", "Failed": "FAILED"}.get(status.get("terminalState") or "")


def pods(obj: dict[str, Any]) -> str:
    """The label selector of the JobSet's pods (JobSet labels every pod with its name)."""
    return f"{JOBSET_NAME_LABEL}={obj['metadata']['name']}"
