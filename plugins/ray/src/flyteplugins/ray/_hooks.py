"""The entry point of flyteplugins-ray (``flyte.plugins`` → ``ray``): light, no Ray import."""

from __future__ import annotations

from typing import Any

from flyte.extend import PluginConfigurationError, TaskCall, TaskPlugin, hookimpl
from flyteplugins.ray.task import RayJobConfig


async def _run(call: TaskCall) -> Any:
    from flyteplugins.ray._runner import run

    return await run(call)


def _render(spec: Any, context: Any) -> list[dict[str, Any]]:
    from flyteplugins.ray._render import render

    return render(spec, context)


def _check(spec: Any) -> None:
    """A reusable environment shares one Ray cluster between its tasks (as the reference plugin
    has it): one replica running one task at a time, kept up by the pool's idle_ttl, not by the
    RayJob's own shutdown settings."""
    policy, config = spec.reusable, spec.plugin_config
    if policy is None:
        return
    problems = []
    if policy.max_replicas != 1:
        problems.append(f"replicas={policy.replicas!r} (accepted: ReusePolicy(replicas=1), one shared Ray cluster)")
    if policy.concurrency != 1:
        problems.append(f"concurrency={policy.concurrency} (accepted: concurrency=1)")
    if config.shutdown_after_job_finishes:
        problems.append(
            "RayJobConfig.shutdown_after_job_finishes=True (accepted: False: the shared cluster outlives "
            "each job and stops after ReusePolicy(idle_ttl=...) without tasks)"
        )
    if config.ttl_seconds_after_finished is not None:
        problems.append(
            f"RayJobConfig.ttl_seconds_after_finished={config.ttl_seconds_after_finished} "
            "(accepted: None: ReusePolicy(idle_ttl=...) says when the shared cluster stops)"
        )
    if problems:
        raise PluginConfigurationError(f"{spec.name}: a reusable Ray task cannot have " + "; ".join(problems))


def _phase(status: dict[str, Any]) -> str | None:
    """A RayJob's outcome from KubeRay's status: ``jobStatus`` of the Ray job, or a failed
    deployment (the cluster never came up)."""
    job = status.get("jobStatus")
    if job == "SUCCEEDED":
        return "SUCCEEDED"
    if job in ("FAILED", "STOPPED") or status.get("jobDeploymentStatus") in ("Failed", "ValidationFailed"):
        return "FAILED"
    return None


def _pods(obj: dict[str, Any]) -> str:
    """The RayJob's submitter pod (KubeRay names its submitter Job after the RayJob): its log is
    the Ray job's driver output."""
    return f"job-name={obj['metadata']['name']}"


@hookimpl
def flyte_task_plugins() -> list[TaskPlugin]:
    return [
        TaskPlugin(
            config_type=RayJobConfig,
            run=_run,
            render=_render,
            phase=_phase,
            pods=_pods,
            description="Ray: a local Ray runtime; a KubeRay RayJob on Kubernetes",
            check=_check,
        )
    ]
