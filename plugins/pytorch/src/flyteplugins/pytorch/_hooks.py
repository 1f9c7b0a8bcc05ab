"""The entry point of flyteplugins-pytorch (``flyte.plugins`` → ``pytorch``): light, no torch import."""

from __future__ import annotations

from typing import Any

from flyte.extend import TaskCall, TaskPlugin, hookimpl
from flyteplugins.pytorch.task import Elastic


async def _run(call: TaskCall) -> Any:
    from flyteplugins.pytorch._launch import run

    return await run(call)


def _render(spec: Any, context: Any) -> list[dict[str, Any]]:
    from flyteplugins.pytorch._render import render

    return render(spec, context)


def _pods(obj: dict[str, Any]) -> str:
    """The PyTorchJob's replica pods (the training operator labels them with its name)."""
    return f"training.kubeflow.org/job-name={obj['metadata']['name']}"


@hookimpl
def flyte_task_plugins() -> list[TaskPlugin]:
    return [
        TaskPlugin(
            config_type=Elastic,
            run=_run,
            render=_render,
            pods=_pods,
            description="PyTorch: torch elastic workers locally; a Kubeflow PyTorchJob on Kubernetes",
        )
    ]
