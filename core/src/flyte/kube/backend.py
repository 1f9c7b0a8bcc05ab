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
    from kubernetes import client, utils

    from flyte.io._storage import filesystem
    from flyte.remote import Run
    from flyte.render.render import render_task
    from flyte.runtime.api import new_run_name

    config = dict(settings.kubernetes or {})
    if not config.get("storage"):
        raise ClusterRunError("kubernetes backend: set kubernetes.storage to object storage the pods can reach")
    name = context.name or new_run_name()
    render_settings = RenderSettings.from_config(
        {k: v for k, v in config.items() if k not in ("context", "kubeconfig")}
    )
    ctx = RenderContext(settings=render_settings, inputs=inputs, run_name=name)
    objects = render_task(task, ctx)
    api = _client(config)
    for obj in objects:
        obj["metadata"]["name"] = f"{obj['metadata']['name'][:40]}-{name}"[:52]
    try:
        utils.create_from_dict(api, objects[0], namespace=render_settings.namespace)
    except Exception as exc:
        raise ClusterRunError(f"could not create {objects[0]['kind']} {objects[0]['metadata']['name']}: {exc}") from exc
    job_name = objects[0]["metadata"]["name"]
    batch = client.BatchV1Api(api)
    started = time.time()
    while True:
        status = batch.read_namespaced_job_status(job_name, render_settings.namespace).status
        if status.succeeded:
            break
        if any(c.type == "Failed" and c.status == "True" for c in status.conditions or []):
            raise ClusterRunError(
                f"job {job_name} failed: see kubectl logs job/{job_name} -n {render_settings.namespace}"
            )
        time.sleep(POLL_SECONDS)
    container = objects[0]["spec"]["template"]["spec"]["containers"][0]
    uri = next(e["value"] for e in container["env"] if e["name"] == "FLYTE_OUTPUTS_URI")
    fs, path = filesystem(uri)
    with fs.open(path, "r") as f:
        outputs = _codec.loads(f.read())
    run = Run(name=name, task=task.name, phase="SUCCEEDED", created_at=started, ended_at=time.time())
    run._outputs = outputs
    return run
