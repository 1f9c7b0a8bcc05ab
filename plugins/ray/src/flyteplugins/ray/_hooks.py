"""The entry point of flyteplugins-ray (``flyte.plugins`` → ``ray``): light, no Ray import."""

from __future__ import annotations

from typing import Any

from flyte.extend import TaskCall, TaskPlugin, hookimpl
from flyteplugins.ray.task import RayJobConfig


async def _run(call: TaskCall) -> Any:
    from flyteplugins.ray._runner import run

    return await run(call)


def _render(spec: Any, context: Any) -> list[dict[str, Any]]:
    from flyteplugins.ray._render import render

    return render(spec, context)


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
        )
    ]
