"""Render tasks and environments: route each task to its plugin's renderer or the core's."""

from __future__ import annotations

from typing import Any

from flyte.connector_task import ConnectorTask
from flyte.errors import RenderError
from flyte.render.context import RenderContext


def render_task(task: Any, ctx: RenderContext) -> list[dict[str, Any]]:
    """The Kubernetes objects for one task (a Job, CronJobs, or its plugin's objects)."""
    from flyte.plugins import get_registry
    from flyte.task import ensure_no_trigger_problems

    ensure_no_trigger_problems(task)
    if isinstance(task, ConnectorTask):
        return []  # nothing runs in the cluster for it: see connector_note
    spec = task.spec
    registry = get_registry()
    if spec.plugin_config is not None:
        plugin = registry.task_plugin_for(spec.plugin_config)
        if plugin.render is None:
            raise RenderError(f"{spec.name}: the plugin for {type(spec.plugin_config).__name__} cannot render tasks")
        return plugin.render(spec, ctx)
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


def connector_note(task: Any) -> str | None:
    """Why a connector task renders no object, and where its work is followed; None otherwise."""
    if not isinstance(task, ConnectorTask):
        return None
    config = type(task.spec.plugin_config)
    return (
        f"{task.name}: a connector task ({config.__module__}.{config.__qualname__}) renders no Kubernetes "
        "object: the service does its work, and the process that calls it creates, polls and cancels it "
        "(the pod of the task that calls it; for a run started with it, the Kubernetes backend in the "
        "submitting process)"
    )


def connector_notes(target: Any) -> list[str]:
    """:func:`connector_note` for a task, or for every task of an environment tree."""
    tasks = [t for env in target.reachable() for t in env.tasks.values()] if hasattr(target, "reachable") else [target]
    return [note for note in map(connector_note, tasks) if note]
