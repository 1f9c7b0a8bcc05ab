"""Run a task on a Kubernetes cluster, with no Flyte control plane.

Selected by a ``kubernetes:`` section in the config file read by ``flyte.init_from_config``::

    kubernetes:
      context: kind-flyte          # kubeconfig context (default: the current one)
      namespace: default
      storage: s3://bucket/flyte   # object storage the pods and this process both reach

The task is rendered (a Job, or its plugin's object) with the run's inputs baked in, applied
with the kubernetes client, followed until it finishes, and its outputs are read back from
storage. The image must already be built and pushed (``flyte build``).
"""

from __future__ import annotations

import time
from typing import Any

from flyte import _codec
from flyte.errors import FlyteError
from flyte.render.context import RenderContext, RenderSettings

POLL_SECONDS = 2.0


class ClusterRunError(FlyteError, RuntimeError):
    """The task's Kubernetes object failed or could not be applied."""


def _client(config: dict[str, Any]) -> Any:
    from kubernetes import client
    from kubernetes import config as kubeconfig

    kubeconfig.load_kube_config(config_file=config.get("kubeconfig"), context=config.get("context"))
    return client.ApiClient()


def run_on_cluster(task: Any, inputs: dict[str, Any], context: Any, settings: Any) -> Any:
    from flyte.remote import Run
    from flyte.render.render import render_task
    from flyte.runtime.api import new_run_name
    from flyte.storage._filesystem import filesystem

    config = dict(settings.kubernetes or {})
    if not config.get("storage"):
        raise ClusterRunError("kubernetes backend: set kubernetes.storage to object storage the pods can reach")
    name = context.name or new_run_name()
    render_settings = RenderSettings.from_config(
        {k: v for k, v in config.items() if k not in ("context", "kubeconfig")}
    )
    from flyte.io._transport import incoming, outgoing

    inputs = {k: outgoing(v) for k, v in inputs.items()}  # dataframes go to the store the pods read
    ctx = RenderContext(settings=render_settings, inputs=inputs, run_name=name)
    objects = render_task(task, ctx)
    main = objects[0]  # a Job, or the plugin's object (RayJob, PyTorchJob, ...)
    main["metadata"]["name"] = f"{main['metadata']['name'][:40]}-{name}"[:52]
    uri = outputs_uri(main)
    if uri is None:
        raise ClusterRunError(f"{main['kind']} {main['metadata']['name']}: no container sets FLYTE_OUTPUTS_URI")
    api = _client(config)
    namespace = render_settings.namespace
    started = time.time()
    create(api, main, namespace)
    phase_of = _phase_function(task)
    while True:
        phase = phase_of(read_status(api, main, namespace))
        if phase == "SUCCEEDED":
            break
        if phase == "FAILED":
            kind = main["kind"].lower()
            raise ClusterRunError(
                f"{main['kind']} {main['metadata']['name']} failed: see kubectl describe {kind} "
                f"{main['metadata']['name']} -n {namespace} and its pods' logs"
            )
        time.sleep(POLL_SECONDS)
    fs, path = filesystem(uri)
    with fs.open(path, "r") as f:
        outputs = _codec.loads(f.read())
    from flyte.io._transport import annotations

    outputs = incoming(outputs, annotations(task.func)[1])  # references read as the declared type
    run = Run(name=name, task=task.name, phase="SUCCEEDED", created_at=started, ended_at=time.time())
    run._outputs = outputs
    return run


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


def _api_path(obj: dict[str, Any]) -> tuple[str, str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    return group, version, obj["kind"].lower() + "s"


def create(api: Any, obj: dict[str, Any], namespace: str) -> None:
    from kubernetes import client, utils

    try:
        if obj["kind"] in ("Job", "CronJob"):
            utils.create_from_dict(api, obj, namespace=namespace)
        else:  # a custom resource of an operator
            group, version, plural = _api_path(obj)
            client.CustomObjectsApi(api).create_namespaced_custom_object(group, version, namespace, plural, obj)
    except Exception as exc:
        raise ClusterRunError(f"could not create {obj['kind']} {obj['metadata']['name']}: {exc}") from exc


def read_status(api: Any, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The object's ``status`` as plain data."""
    from kubernetes import client

    name = obj["metadata"]["name"]
    if obj["kind"] == "Job":
        status = client.BatchV1Api(api).read_namespaced_job_status(name, namespace).status
        return api.sanitize_for_serialization(status) or {}
    group, version, plural = _api_path(obj)
    found = client.CustomObjectsApi(api).get_namespaced_custom_object_status(group, version, namespace, plural, name)
    return found.get("status") or {}


def _phase_function(task: Any) -> Any:
    spec = task.spec
    if spec.plugin_config is not None:
        from flyte.plugins import get_registry

        plugin = get_registry().task_plugin_for(spec.plugin_config)
        if plugin.phase is not None:
            return plugin.phase
    return conditions_phase


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
