"""Run a task on a Kubernetes cluster, with no Flyte control plane.

Selected by a ``kubernetes:`` section in the config file read by ``flyte.init_from_config``::

    kubernetes:
      context: kind-flyte          # kubeconfig context (default: the current one)
      namespace: default
      storage: s3://bucket/flyte   # object storage the pods and this process both reach

The task is rendered (a Job, or its plugin's object) with the run's inputs baked in, created
with the kubernetes client, followed with a watch until it finishes (polling with backoff when a
watch cannot be had), and its outputs are read back from storage. The object is deleted, with
its pods, when the run is cancelled (:func:`cancel`, or ``flyte abort run`` from another
process: :mod:`flyte.runtime.aborts`), passes ``timeout.deadline`` or is
interrupted; a failure reports the operator's message and the object's events. The image must
already be built and pushed (``flyte build``). The run is recorded in the local run store, and
the object kept as YAML under the run's folder, as it goes (:mod:`flyte.kube.record`); its
``flyte.notify`` notifications are delivered by this process when it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flyte import _codec
from flyte.errors import ActionAbortedError, ConfigurationError, DeadlineExceededError, FlyteError
from flyte.kube.record import BACKEND, ClusterRunRecord, job_pods
from flyte.kube.resource import WATCH_WINDOW_SECONDS, KubeResource, ResourceGone, failure_message
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.pod import run_options_env
from flyte.runtime.aborts import AbortWatch

logger = logging.getLogger("flyte.kube")
_cancelled: dict[str, threading.Event] = {}


class ClusterRunError(FlyteError, RuntimeError):
    """The task's Kubernetes object failed or could not be applied."""


def _client(config: dict[str, Any]) -> Any:
    from kubernetes import client
    from kubernetes import config as kubeconfig

    kubeconfig.load_kube_config(config_file=config.get("kubeconfig"), context=config.get("context"))
    return client.ApiClient()


def _context_name(config: dict[str, Any]) -> str | None:
    """The kubeconfig context the run uses (the file's current one when none is configured)."""
    if config.get("context"):
        return config["context"]
    from kubernetes import config as kubeconfig

    try:
        _, active = kubeconfig.list_kube_config_contexts(config_file=config.get("kubeconfig"))
    except Exception:  # no kubeconfig file: _client says so
        return None
    return (active or {}).get("name")


def cancel(run_name: str) -> bool:
    """Cancel a run that is following its object on the cluster (from any thread): the object
    is deleted and the run raises ``ActionAbortedError``. False if no such run is in progress."""
    event = _cancelled.get(run_name)
    if event is None:
        return False
    event.set()
    return True


def run_on_cluster(task: Any, inputs: dict[str, Any], context: Any, settings: Any) -> Any:
    """Create the task's object, follow it to the end, return its outputs. The object is
    deleted (with its pods) when the run is cancelled, passes its ``timeout.deadline``, or is
    interrupted (Ctrl-C); when it fails, the error carries the operator's message and the
    object's events."""
    from flyte.remote import Run
    from flyte.render.render import render_task
    from flyte.runtime import store as st
    from flyte.runtime.api import new_run_name

    config = dict(settings.kubernetes or {})
    if not config.get("storage"):
        raise ClusterRunError("kubernetes backend: set kubernetes.storage to object storage the pods can reach")
    name = context.name or new_run_name()
    if context.name is not None and st.run_exists(name):
        raise ConfigurationError(
            f"with_runcontext(name={name!r}): a run named {name!r} already exists in this state root "
            "(run names are unique: pass another name, or none for a generated one)"
        )
    if context.service_account and not task.spec.service_account:
        task = task.override(service_account=context.service_account)
    render_settings = RenderSettings.from_config(
        {k: v for k, v in config.items() if k not in ("context", "kubeconfig")}
    )
    from flyte.io._transport import incoming, outgoing

    inputs = {k: outgoing(v) for k, v in inputs.items()}  # dataframes go to the store the pods read
    api = _client(config)
    try:
        reader = pod_template_reader(api, render_settings.namespace)
        run_env = {
            **context.env_vars,
            **run_options_env(
                custom_context=context.custom_context,
                max_action_concurrency=context.max_action_concurrency,
                overwrite_cache=context.overwrite_cache,
                disable_run_cache=context.disable_run_cache,
            ),
        }
        ctx = RenderContext(
            settings=render_settings, inputs=inputs, run_name=name, read_pod_template=reader, run_env=run_env
        )
        objects = render_task(task, ctx)
        main = objects[0]  # a Job, or the plugin's object (RayJob, PyTorchJob, ...)
        main["metadata"]["name"] = run_object_name(main["metadata"]["name"], name, _name_limit(main))
        uri = outputs_uri(main)
        if uri is None:
            raise ClusterRunError(f"{main['kind']} {main['metadata']['name']}: no container sets FLYTE_OUTPUTS_URI")
        from flyte.io._transport import annotations

        inputs_json = _codec.dumps(inputs, path="inputs")
        record = ClusterRunRecord(
            name,
            task.name,
            inputs_json,
            _context_name(config),
            render_settings.namespace,
            notifications=context.notifications,
            settings=settings,
        )
        try:
            record.submitted(main, _plugin(task, "pods", job_pods)(main))
            resource = KubeResource(api, main, render_settings.namespace)
            outputs_text = _create_and_follow(task, resource, name, record, uri)
            outputs = incoming(_codec.loads(outputs_text), annotations(task.func)[1])  # references read as declared
            record.succeeded(outputs_text)
        except BaseException as exc:
            record.failed(exc)
            raise
        finally:
            record.close()
    finally:
        api.close()  # its connections to the API server: nothing of a run outlives it
    run = Run(name=name, task=task.name, phase="SUCCEEDED", created_at=record.created_at, backend=BACKEND)
    run.ended_at = time.time()
    run._outputs = outputs
    return run


def pod_template_reader(api: Any, namespace: str) -> Callable[[str], dict[str, Any] | None]:
    """Reads ``namespace``'s PodTemplates by name (None for a missing one), for the render
    context: a task's ``pod_template`` given by name is the cluster's PodTemplate."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)

    def read(name: str) -> dict[str, Any] | None:
        try:
            found = core.read_namespaced_pod_template(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise ClusterRunError(
                f"could not read PodTemplate {name!r} in namespace {namespace!r}: {_api_message(exc)}"
            ) from exc
        return api.sanitize_for_serialization(found)

    return read


def _create_and_follow(task: Any, resource: KubeResource, name: str, record: ClusterRunRecord, uri: str) -> str:
    """Create the object, follow it to its end (recording what is seen), return the text of
    its outputs."""
    from flyte.storage._filesystem import filesystem

    started = time.time()
    timeout = task.spec.timeout
    limit = timeout.deadline.total_seconds() if timeout is not None and timeout.deadline is not None else None
    from flyte.runtime.api import cancel_requested

    # backend.cancel(name) sets it, and so does cancelling the await of flyte.run.aio.
    cancelled = _cancelled.setdefault(name, cancel_requested() or threading.Event())
    try:
        try:
            created = resource.create()
        except Exception as exc:
            raise ClusterRunError(f"could not create {resource}: {_api_message(exc)}") from exc
        except BaseException:  # Ctrl-C while the server may already have created it
            _delete(resource, "the run was interrupted")
            raise
        phase_of = _plugin(task, "phase", conditions_phase)
        aborts = AbortWatch(record.store, name)  # flyte abort run NAME, from another process
        phase, status = _follow(resource, created, phase_of, cancelled, started, limit, record.observed, aborts)
    finally:
        _cancelled.pop(name, None)
    if phase == "FAILED":
        raise ClusterRunError(_failure(resource, status))
    fs, path = filesystem(uri)
    with fs.open(path, "r") as f:
        return f.read()


# The tightest limit among the objects a run submits: KubeRay names a RayJob's pods after it
# and refuses names over 47 characters (a Job's limit, 52, is looser).
RUN_OBJECT_NAME_LIMIT = 47


def run_object_name(rendered: str, run_name: str, limit: int = RUN_OBJECT_NAME_LIMIT) -> str:
    """The submitted object's name: the rendered name, shortened so the whole run name always
    fits (two runs of one task never share a name), within ``limit``."""
    run_name = run_name[:limit].strip("-")
    prefix = rendered[: max(limit - len(run_name) - 1, 0)].rstrip("-")
    return f"{prefix}-{run_name}" if prefix else run_name


def _name_limit(obj: dict[str, Any]) -> int:
    """``RUN_OBJECT_NAME_LIMIT``, or less for a JobSet: its pods' names add the replicated job,
    two indexes and a random suffix, and must stay DNS labels."""
    if obj.get("kind") != "JobSet":
        return RUN_OBJECT_NAME_LIMIT
    from flyte.clustered._render import name_limit

    replicas = max(job["template"]["spec"].get("completions", 1) for job in obj["spec"]["replicatedJobs"])
    return min(RUN_OBJECT_NAME_LIMIT, name_limit(replicas))


def _follow(
    resource: KubeResource,
    created: dict[str, Any],
    phase_of: Any,
    cancelled: threading.Event,
    started: float,
    limit: float | None,
    seen: Callable[[dict[str, Any]], None],
    aborts: AbortWatch | None = None,
) -> tuple[str, dict[str, Any]]:
    """Follow the object to SUCCEEDED or FAILED, passing each state of it to ``seen``; on
    cancel, abort request, deadline or any interruption (Ctrl-C included) delete it and raise."""

    def past_deadline() -> bool:
        return limit is not None and time.time() - started > limit

    def stop() -> bool:
        return cancelled.is_set() or past_deadline() or (aborts is not None and aborts.requested() is not None)

    try:
        version = created.get("metadata", {}).get("resourceVersion")
        window = min(WATCH_WINDOW_SECONDS, max(1.0, limit)) if limit is not None else WATCH_WINDOW_SECONDS
        for obj in resource.follow(version, stop=stop, window=window):
            seen(obj)
            status = obj.get("status") or {}
            phase = phase_of(status)
            if phase in ("SUCCEEDED", "FAILED"):
                return phase, status
    except ResourceGone:
        raise ClusterRunError(f"{resource} was deleted before it finished") from None
    except BaseException:
        _delete(resource, "the run was interrupted")
        raise
    if cancelled.is_set():
        _delete(resource, "the run was cancelled")
        raise ActionAbortedError(f"run cancelled: {resource} deleted")
    if aborts is not None and aborts.reason is not None:
        _delete(resource, "the run was aborted")
        raise ActionAbortedError(f"run {aborts.name} was aborted: {aborts.reason} ({resource} deleted)")
    _delete(resource, "the run passed its deadline")
    raise DeadlineExceededError(f"{resource} did not finish within timeout.deadline ({limit:g} s): deleted")


def _delete(resource: KubeResource, why: str) -> None:
    try:
        if resource.delete():
            logger.warning("%s: deleted with its pods (%s)", resource, why)
    except Exception as exc:  # the original interruption matters more; say what is left behind
        logger.error("%s: could not delete it (%s); delete it yourself: %s", resource, why, _api_message(exc))


def _failure(resource: KubeResource, status: dict[str, Any]) -> str:
    lines = [f"{resource} failed: {failure_message(status) or 'no message from the operator'}"]
    events = resource.events()
    if events:
        lines.append("events:")
        lines += [f"  {e}" for e in events[-10:]]
    kind = resource.kind.lower()
    lines.append(f"see: kubectl describe {kind} {resource.name} -n {resource.namespace}, and its pods' logs")
    return "\n".join(lines)


def _api_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if body:
        import json

        try:
            return json.loads(body).get("message") or str(body)
        except (ValueError, AttributeError):
            return str(body)
    return str(exc)


def outputs_uri(obj: Any) -> str | None:
    """The ``FLYTE_OUTPUTS_URI`` a container of ``obj`` writes to (wherever its pod template is)."""
    if isinstance(obj, dict):
        if obj.get("name") == "FLYTE_OUTPUTS_URI" and isinstance(obj.get("value"), str):
            return obj["value"]
        values = obj.values()
    elif isinstance(obj, list):
        values = obj
    else:
        return None
    for value in values:
        found = outputs_uri(value)
        if found is not None:
            return found
    return None


def _plugin(task: Any, field: str, default: Any) -> Any:
    """The task's plugin's ``field`` (``phase``, ``pods``), or ``default`` for a plain task or
    a plugin that does not give it."""
    spec = task.spec
    if spec.plugin_config is not None:
        from flyte.plugins import get_registry

        found = getattr(get_registry().task_plugin_for(spec.plugin_config), field)
        if found is not None:
            return found
    return default


def conditions_phase(status: dict[str, Any]) -> str | None:
    """``"SUCCEEDED"``, ``"FAILED"`` or None (still running) from an object's status, by the
    convention batch Jobs and most operators follow: ``succeeded`` counts or ``conditions``
    of type Complete/Succeeded/Failed that are True."""
    if status.get("succeeded"):
        return "SUCCEEDED"
    for condition in status.get("conditions") or []:
        if str(condition.get("status")) != "True":
            continue
        if condition.get("type") in ("Complete", "Succeeded"):
            return "SUCCEEDED"
        if condition.get("type") == "Failed":
            return "FAILED"
    return None
