"""Render tasks and environments: route each task to its plugin's renderer or the core's."""

from __future__ import annotations

from typing import Any

from flyte.errors import RenderError
from flyte.render.context import RenderContext


def render_task(task: Any, ctx: RenderContext) -> list[dict[str, Any]]:
    """The Kubernetes objects for one task (a Job, CronJobs, or its plugin's objects)."""
    from flyte.plugins import get_registry
    from flyte.task import ensure_no_trigger_problems

    ensure_no_trigger_problems(task)
    spec = task.spec
    registry = get_registry()
    if spec.plugin_config is not None:
        plugin = registry.task_plugin_for(spec.plugin_config)
        if plugin.render is not None:
            return plugin.render(spec, ctx)
        # No renderer of its own: the task is a plain container (its plugin runs inside it).
    objects = registry.hook.flyte_render_task(spec=spec, context=ctx)
    if objects is None:
        raise RenderError(f"{spec.name}: no installed plugin renders plain tasks")
    return objects


def render_environment(env: Any, ctx: RenderContext) -> list[dict[str, Any]]:
    """Every task of ``env`` and of each environment reachable through ``depends_on``, once."""
    objects: list[dict[str, Any]] = []
    for each in env.reachable():
        for task in each.tasks.values():
            objects.extend(render_task(task, ctx))
    return objects
