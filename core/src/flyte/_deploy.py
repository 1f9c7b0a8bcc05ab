"""``flyte.deploy(env)``: publish environments, their tasks and their triggers.

Every environment reachable through ``depends_on`` is deployed with the given ones. Each task
is validated (triggers must be able to supply its inputs), versioned by the content of its
resolved spec, and recorded in the run store (``flyte deploy --list`` lists them). Locally its
triggers are recorded for ``flyte serve triggers``; with the Kubernetes backend
(``flyte.init_from_config`` with a ``kubernetes:`` section) each trigger's CronJob is applied,
which is what makes the schedules fire there (a task's Job is not applied: a Job is one run).
``dryrun=True`` validates and renders without recording or applying.

The module is ``flyte._deploy``, not ``flyte.deploy``: importing a submodule named like the
``flyte.deploy`` function would replace that attribute of the package with the module.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import attrs

from flyte.errors import FlyteError


class DeploymentError(FlyteError, RuntimeError):
    """A deployment could not be applied to the cluster."""


@attrs.frozen
class DeployedTask:
    """One task of a deployment: its fully-qualified name, content version and triggers."""

    name: str
    version: str
    triggers: tuple[str, ...] = ()
    entrypoint: bool = False


@attrs.frozen
class Deployment:
    """What one ``flyte.deploy`` call published for one environment."""

    env_name: str
    tasks: tuple[DeployedTask, ...]
    backend: str
    deployed_at: float
    objects: tuple[dict[str, Any], ...] = ()  # the rendered Kubernetes objects (dryrun/cluster)

    def summary_repr(self) -> str:
        lines = [f"environment {self.env_name} ({self.backend}): {len(self.tasks)} task(s)"]
        for task in self.tasks:
            triggers = f"  triggers: {', '.join(task.triggers)}" if task.triggers else ""
            marker = "  (entrypoint)" if task.entrypoint else ""
            lines.append(f"  {task.name}  version {task.version}{triggers}{marker}")
        return "\n".join(lines)


def deploy(*envs: Any, dryrun: bool = False, version: str | None = None, **_reference_options: Any) -> list[Deployment]:
    """Deploy ``envs`` and every environment they depend on; one :class:`Deployment` each.

    ``version`` replaces the content versions (the same for every task). The reference SDK's
    packaging options (``interactive_mode``, ``copy_style``, ...) are accepted and ignored:
    code is not uploaded anywhere, images are built with ``flyte build``.
    """
    from flyte.environment import TaskEnvironment, check_unique_names
    from flyte.render.context import RenderContext, RenderSettings
    from flyte.render.render import render_task, unique_objects
    from flyte.runtime import settings as cfg
    from flyte.task import ensure_no_trigger_problems

    if not envs:
        raise TypeError("flyte.deploy: pass at least one flyte.TaskEnvironment")
    for env in envs:
        if not isinstance(env, TaskEnvironment):
            raise TypeError(f"flyte.deploy: {env!r} is not valid (accepted: flyte.TaskEnvironment objects)")
    if version is not None and (not isinstance(version, str) or not version.strip()):
        raise ValueError(f"flyte.deploy: version={version!r} is not valid (accepted: a non-empty str)")

    settings = cfg.current()
    render_settings = RenderSettings.from_config(
        {k: v for k, v in (settings.kubernetes or {}).items() if k not in ("context", "kubeconfig")}
    )
    seen: dict[int, Any] = {}
    for env in envs:
        for each in env.reachable():
            seen.setdefault(id(each), each)
    check_unique_names(seen.values())

    # One client for the whole deploy: it reads PodTemplates named by tasks and applies CronJobs.
    api = _cluster_client(settings) if settings.backend == "kubernetes" and not dryrun else None
    reader = None if api is None else _pod_template_reader(api, render_settings.namespace)
    try:
        deployments = []
        rendered: list[tuple[str, dict[str, Any]]] = []
        now = time.time()
        for env in seen.values():
            tasks, objects = [], []
            for task in env.tasks.values():
                ensure_no_trigger_problems(task)
                spec = task.spec
                task_version = version or content_version(task)
                tasks.append(
                    DeployedTask(spec.name, task_version, tuple(t.name for t in spec.triggers), spec.entrypoint)
                )
                if dryrun or settings.backend == "kubernetes":
                    task_objects = render_task(task, RenderContext(settings=render_settings, read_pod_template=reader))
                    objects.extend(task_objects)
                    rendered.extend((spec.name, obj) for obj in task_objects)
            deployments.append(Deployment(env.name, tuple(tasks), settings.backend, now, tuple(objects)))
        unique_objects(rendered)  # nothing applied yet: no two objects of one kind and name
        if not dryrun:
            for env, deployment in zip(seen.values(), deployments, strict=True):
                if settings.backend == "kubernetes":
                    _apply(list(deployment.objects), api, render_settings.namespace)  # CronJobs fire the triggers
                else:
                    from flyte.runtime.schedule import record_deployment

                    record_deployment(list(env.tasks.values()), now)  # `flyte serve triggers` fires them
                _record(deployment, {t.spec.name: t for t in env.tasks.values()})
        return deployments
    finally:
        if api is not None:
            api.close()


def _record(deployment: Deployment, templates: dict[str, Any]) -> None:
    """One row per (task, version) in the run store's ``deployments`` table, in one transaction."""
    from flyte.runtime import store as st

    st.record_deployments(
        [
            (
                deployment.env_name,
                task.name,
                task.version,
                json.dumps(list(task.triggers)),
                json.dumps(templates[task.name].spec.to_dict(), sort_keys=True, default=str),
                deployment.backend,
                deployment.deployed_at,
                *_source(templates[task.name]),
            )
            for task in deployment.tasks
        ]
    )


def content_version(template: Any) -> str:
    """The version ``flyte.deploy`` gives a task when none is named: a hash of its resolved spec."""
    content = json.dumps(template.spec.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def _source(template: Any) -> tuple[str | None, str | None]:
    """Where the task is defined and the digest of that file now (``flyte.remote.Task.get``
    loads it from there, and only if the file is unchanged)."""
    import inspect

    try:
        source = inspect.getsourcefile(template.func)
    except TypeError:  # a builtin or a C function: no file
        return None, None
    if not source:
        return None, None
    path = Path(source).resolve()
    return str(path), file_digest(path)


def file_digest(path: Path) -> str | None:
    """The sha256 of a file's bytes (None if it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def deployments() -> list[dict[str, Any]]:
    """Every recorded deployment row, newest first (what ``flyte deploy --list`` prints)."""
    from flyte.runtime import store as st

    return [{**dict(r), "triggers": json.loads(r["triggers"] or "[]")} for r in st.deployment_rows()]


def _cluster_client(settings: Any) -> Any:
    from flyte.kube.backend import _client

    return _client(dict(settings.kubernetes or {}))


def _pod_template_reader(api: Any, namespace: str) -> Any:
    from flyte.kube.backend import pod_template_reader

    return pod_template_reader(api, namespace)


def _apply(objects: list[dict[str, Any]], api: Any, namespace: str) -> None:
    """Create or update the CronJobs that fire the triggers. (A task's Job is not applied: a
    Job is one run, created when something runs the task.)"""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    batch = client.BatchV1Api(api)
    for obj in objects:
        if obj.get("kind") != "CronJob":
            continue
        name = obj["metadata"]["name"]
        try:
            try:
                batch.create_namespaced_cron_job(namespace, obj)
            except ApiException as exc:
                if exc.status != 409:  # 409: it exists; deploying again updates it
                    raise
                batch.replace_namespaced_cron_job(name, namespace, obj)
        except Exception as exc:
            raise DeploymentError(f"could not apply CronJob {name}: {exc}") from exc
