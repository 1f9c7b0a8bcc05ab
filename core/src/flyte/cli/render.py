"""``flyte render FILE TARGET``: the Kubernetes objects for a task or an environment tree."""

from __future__ import annotations

import json
from typing import Any

import click

from flyte.cli.images import image_refs_option
from flyte.cli.output import output_option

MAPPING = """\b
How task settings map to Kubernetes (a plain task is a batch/v1 Job):
  image                  containers[].image (registry/name:content-tag);
                         Image.registry_secret -> imagePullSecrets
  resources.cpu/memory   requests and limits (one value sets both; a tuple is (request, limit))
  resources.disk         ephemeral-storage
  resources.gpu          nvidia.com/gpu (MIG: nvidia.com/mig-<profile>) + node selector
                         cloud.google.com/gke-accelerator; TPU: google.com/tpu + accelerator
                         and topology node selectors
  resources.shm          emptyDir {medium: Memory, sizeLimit} mounted at /dev/shm
  env_vars               env
  secrets                env valueFrom.secretKeyRef / a projected secret volume at
                         /etc/flyte/secrets (references only, never values)
  pod_template           the pod: labels, annotations, sidecars, volumes, pull secrets kept;
                         the task container merged into primary_container_name. A name:
                         the cluster's PodTemplate (read by runs and deploys on the cluster;
                         offline, annotation flyte.org/pod-template and a note)
  retries                Job backoffLimit; podFailurePolicy ignores DisruptionTarget
                         (preemption) and fails at once on a NonRecoverableError (exit 3)
  timeout.max_runtime    pod activeDeadlineSeconds (per attempt)
  timeout.deadline       Job activeDeadlineSeconds (all attempts)
  interruptible          toleration + required node affinity flyte.org/interruptible=true
  queue                  label and node selector flyte.org/queue=<queue>
  service_account        pod serviceAccountName (SparkApplication: driver/executor
                         serviceAccount too)
  triggers               one batch/v1 CronJob each (schedule, timeZone, suspend when not
                         auto_activate; trigger inputs/env vars; trigger time in UTC)
  plugin_config          the plugin's object (RayJob, PyTorchJob, ...)
  connector tasks        no object (a comment says so): the caller's process follows the
                         service's work (see README, "Connectors")
"""


@click.command("render", epilog=MAPPING)
@image_refs_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("target")
@output_option("yaml", "json", default="yaml")
@click.option("--namespace", "-n", default="default", show_default=True, help="Namespace of every object.")
@click.option("--inputs", "inputs_json", help="Inputs to bake in, as a JSON object (default: the task's defaults).")
@click.option(
    "--storage",
    default="/var/flyte/storage",
    show_default=True,
    help="Object storage (path or URI) the container reads inputs from and writes outputs to.",
)
def render_command(file: str, target: str, output: str, namespace: str, inputs_json: str | None, storage: str) -> None:
    """Print the Kubernetes objects for TARGET (a task, or an environment and every
    environment reachable through its depends_on) defined in FILE."""
    from flyte._loader import find, load_file
    from flyte.environment import TaskEnvironment
    from flyte.errors import FlyteError
    from flyte.render.context import RenderContext, RenderSettings
    from flyte.render.render import render_environment, render_notes, render_task
    from flyte.task import TaskTemplate

    inputs = None
    if inputs_json:
        try:
            inputs = json.loads(inputs_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not a JSON object ({exc.msg})", param_hint="--inputs") from None
        if not isinstance(inputs, dict):
            raise click.BadParameter(
                f"expected a JSON object of input names to values, got {inputs_json}", param_hint="--inputs"
            )
    obj = find(load_file(file), target, (TaskTemplate, TaskEnvironment))
    if inputs:
        inputs = _typed_inputs(obj, inputs)
    ctx = RenderContext(settings=RenderSettings(namespace=namespace, storage=storage), inputs=inputs)
    try:
        objects = render_environment(obj, ctx) if isinstance(obj, TaskEnvironment) else render_task(obj, ctx)
    except (FlyteError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    notes = render_notes(obj)
    if output == "json":  # JSON has no comments: the notes go to stderr
        for note in notes:
            click.echo(f"note: {note}", err=True)
    else:
        for note in notes:
            click.echo(f"# {note}")
    if objects or not notes:
        click.echo(dump(objects, output))


def _typed_inputs(target: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """JSON values as the annotated types (an ISO string as a datetime, ...): for a task its own
    annotations, for an environment those of the first task with an input of that name."""
    from flyte.cli._values import ConversionError, from_json
    from flyte.interface import signature_types

    tasks = [target] if not hasattr(target, "reachable") else [t for e in target.reachable() for t in e.tasks.values()]
    annotations: dict[str, Any] = {}
    for task in tasks:
        for name, tp in signature_types(task.func)[0].items():
            annotations.setdefault(name, tp)
    typed = {}
    for name, value in inputs.items():
        try:
            typed[name] = from_json(annotations[name], value) if name in annotations else value
        except ConversionError as exc:
            raise click.BadParameter(f"input {name!r}: {exc}", param_hint="--inputs") from None
    return typed


def dump(objects: list[dict], output: str) -> str:
    if output == "json":
        return json.dumps(objects if len(objects) != 1 else objects[0], indent=2)
    import yaml

    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False).rstrip()
