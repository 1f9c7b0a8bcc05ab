"""Render tasks and environments: route each task to its plugin's renderer or the core's.

A render never emits two objects of one kind with one name: Kubernetes names are normalised
(``my_env`` and ``my-env`` both become ``my-env``), so distinct tasks can collide, and one would
silently replace the other on the cluster. Identical duplicates are emitted once; different ones
are an error naming both tasks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import attrs

from flyte._typecheck import signature_check
from flyte.connector_task import ConnectorTask
from flyte.errors import RenderError
from flyte.render.context import RenderContext


def render_task(task: Any, ctx: RenderContext) -> list[dict[str, Any]]:
    """The Kubernetes objects for one task (a Job, CronJobs, or its plugin's objects)."""
    from flyte.task import ensure_no_trigger_problems

    ensure_no_trigger_problems(task)
    if isinstance(task, ConnectorTask):
        return []  # nothing runs in the cluster for it: see connector_note
    _check_importable(task)
    if ctx.inputs:
        _check_inputs(task, ctx.inputs)
    return unique_objects((task.name, obj) for obj in _render(task, ctx))


def _render(task: Any, ctx: RenderContext) -> list[dict[str, Any]]:
    from flyte.plugins import get_registry

    spec = task.spec
    registry = get_registry()
    if spec.plugin_config is not None:
        plugin = registry.task_plugin_for(spec.plugin_config)
        if plugin.render is not None:
            _refuse_schedules(spec)
            return plugin.render(spec, ctx)
        # No renderer of its own: the task is a plain container (its plugin runs inside it).
    objects = registry.hook.flyte_render_task(spec=spec, context=ctx)
    if objects is None:
        raise RenderError(f"{spec.name}: no installed plugin renders plain tasks")
    return objects


def _refuse_schedules(spec: Any) -> None:
    """A trigger's CronJob can start only a Job, and a task whose plugin renders an object of
    its own (a RayJob, a PyTorchJob, a JobSet, ...) is no Job: its schedule would never fire on
    the cluster. Say so rather than render it without one."""
    scheduled = [t.name for t in spec.triggers if t.automation is not None]
    if scheduled:
        names = ", ".join(repr(n) for n in scheduled)
        raise RenderError(
            f"{spec.name}: trigger {names} cannot fire on Kubernetes: a CronJob starts only a Job, "
            f"and this task renders as its plugin's own object ({type(spec.plugin_config).__name__}). "
            "Fire it locally instead (`flyte deploy` without a cluster, then `flyte serve triggers`), "
            "or make it a manual trigger (no automation)"
        )


def render_environment(env: Any, ctx: RenderContext) -> list[dict[str, Any]]:
    """Every task of ``env`` and of each environment reachable through ``depends_on``, once.

    Given inputs go to each task that has an input of that name; a name no task has is an error.
    """
    rendered: list[tuple[str, dict[str, Any]]] = []
    used: set[str] = set()
    for each in env.reachable():
        for task in each.tasks.values():
            task_ctx = ctx
            if ctx.inputs:
                own = {k: v for k, v in ctx.inputs.items() if k in task.signature.parameters}
                used.update(own)
                task_ctx = attrs.evolve(ctx, inputs=own or None)
            rendered.extend((task.name, obj) for obj in render_task(task, task_ctx))
    unused = sorted(set(ctx.inputs or ()) - used)
    if unused:
        raise RenderError(
            f"inputs {', '.join(map(repr, unused))}: no task of environment {env.name!r} (or the "
            "environments it depends on) has an input of that name"
        )
    return unique_objects(rendered)


def unique_objects(rendered: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The objects of ``(task name, object)`` pairs, each kind and name once; two different
    objects with one kind, namespace and name are a :class:`~flyte.errors.RenderError`."""
    seen: dict[tuple[str, str, str | None, str], tuple[str, dict[str, Any]]] = {}
    for source, obj in rendered:
        meta = obj.get("metadata") or {}
        key = (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace"), meta.get("name", ""))
        first = seen.setdefault(key, (source, obj))
        if first[1] is obj or first[1] == obj:
            continue
        raise RenderError(
            f"{key[1]} {key[3]!r} would be rendered twice, for {_origin(*first)} and for {_origin(source, obj)}: "
            "Kubernetes names are lower-case with '-' for '_', so these names collide; rename one of them"
        )
    return [obj for _, obj in seen.values()]


def _origin(task: str, obj: dict[str, Any]) -> str:
    trigger = ((obj.get("metadata") or {}).get("labels") or {}).get("flyte.org/trigger")
    return f"trigger {trigger!r} of task {task}" if trigger else f"task {task}"


def _check_importable(task: Any) -> None:
    """The container imports the task's module by name: a function made where no module
    holds it (``exec()`` of a string, a REPL), or a file loaded under a private name (its own
    name belongs to another module, see flyte._loader), cannot be imported there."""
    from flyte._loader import PRIVATE_PREFIX

    module = task.spec.module
    # Judged by where the function's code came from, not by sys.modules: a file loaded with
    # importlib's spec_from_file_location and never registered (a test harness does it) has
    # its source on disk, and renders as it always did.
    code = getattr(task.func, "__code__", None)
    source = code.co_filename if code is not None else None
    if module is None or source is None or not os.path.isfile(source):
        where = "no module" if module is None else f"module {module!r}, which is not a module loaded from a file"
        raise RenderError(
            f"{task.name}: its function {task.func.__qualname__} has {where} (made by exec() or in an "
            "interactive session?), so a container could not import it; define the task in a .py file"
        )
    if module.startswith(PRIVATE_PREFIX):
        file = task.func.__code__.co_filename
        name = module.removeprefix(PRIVATE_PREFIX)
        raise RenderError(
            f"{task.name}: {file} is named like the module {name!r} (of the standard library or an "
            "installed package), so a container could not import it by that name; rename the file"
        )


def _check_inputs(task: Any, inputs: dict[str, Any]) -> None:
    """Inputs to bake in must be inputs of the task, of the annotated types."""
    params = task.signature.parameters
    unknown = [k for k in inputs if k not in params]
    if unknown:
        raise RenderError(
            f"{task.name}: {', '.join(map(repr, unknown))} is not an input of the task "
            f"(its inputs: {', '.join(params) or 'none'})"
        )
    signature_check(task.func).check_inputs(task, inputs)


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


def pod_template_note(task: Any) -> str | None:
    """Why an offline rendering of a task whose ``pod_template`` names a cluster PodTemplate
    does not include it; None for any other task."""
    name = getattr(task.spec, "pod_template", None)
    if not isinstance(name, str) or isinstance(task, ConnectorTask):
        return None
    return (
        f"{task.name}: pod_template={name!r} names a PodTemplate of the cluster, which rendering offline "
        "does not read: the pod carries its name (annotation flyte.org/pod-template) and not its contents; "
        "a run on the cluster and `flyte deploy` read it from the namespace and merge it in"
    )


def render_notes(target: Any) -> list[str]:
    """What an offline rendering of a task, or of every task of an environment tree, leaves
    out and why (:func:`connector_note`, :func:`pod_template_note`)."""
    tasks = [t for env in target.reachable() for t in env.tasks.values()] if hasattr(target, "reachable") else [target]
    return [note for task in tasks for note in (connector_note(task), pod_template_note(task)) if note]
