"""The core renderer: a plain task becomes a ``batch/v1`` Job, and each of its triggers a
``batch/v1`` CronJob.

Why a Job and not a bare Pod: a Job carries the retry budget (``backoffLimit``) and a pod
failure policy, so a preempted pod (``DisruptionTarget``) is replaced without using a retry,
as the guide promises for interruptible tasks; ``Timeout.deadline`` bounds the whole Job
(``activeDeadlineSeconds``) while ``max_runtime`` bounds each pod; and the Job keeps its
status after the pod is gone. A bare Pod has none of that.
"""

from __future__ import annotations

from typing import Any

from flyte.errors import RenderError
from flyte.render.context import RenderContext
from flyte.render.names import dns_name, label_value
from flyte.render.pod import run_options_env
from flyte.render.schedule import cron_schedule
from flyte.triggers import TriggerTime

# The entrypoint exits with this code for a NonRecoverableError: the Job fails without retrying.
NON_RECOVERABLE_EXIT = 3


def job_spec(spec: Any, ctx: RenderContext, *, name: str | None = None) -> dict[str, Any]:
    pod = ctx.pod_spec(spec)
    primary = pod["containers"][0]["name"] if pod["containers"] else "primary"
    template = ctx.pod_template(spec)
    if template is not None:
        primary = template.primary_container_name
    job: dict[str, Any] = {
        "backoffLimit": spec.retries.count,
        "podFailurePolicy": {
            "rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                {
                    "action": "FailJob",
                    "onExitCodes": {"containerName": primary, "operator": "In", "values": [NON_RECOVERABLE_EXIT]},
                },
            ]
        },
        "template": {"metadata": ctx.pod_metadata(spec), "spec": pod},
    }
    if spec.timeout is not None and spec.timeout.deadline is not None:
        job["activeDeadlineSeconds"] = max(1, int(spec.timeout.deadline.total_seconds()))
    if ctx.settings.ttl_seconds_after_finished is not None:
        job["ttlSecondsAfterFinished"] = ctx.settings.ttl_seconds_after_finished
    return job


def render_job(spec: Any, ctx: RenderContext) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": ctx.name(spec), "namespace": ctx.settings.namespace, "labels": ctx.labels(spec)},
        "spec": job_spec(spec, ctx),
    }


def render_cronjob(spec: Any, trigger: Any, ctx: RenderContext) -> dict[str, Any]:
    import attrs

    schedule, zone = cron_schedule(trigger.automation)
    inputs = dict(trigger.inputs or {})
    time_keys = [k for k, v in inputs.items() if v is TriggerTime]
    names = {i.name for i in spec.interface.inputs}
    if trigger.trigger_time_required and trigger.trigger_time_input_key not in names:
        raise RenderError(
            f"trigger {trigger.name!r} of {spec.name}: trigger_time_input_key "
            f"{trigger.trigger_time_input_key!r} is not a parameter of the task"
        )
    time_keys = [k for k in time_keys if k in names]
    # A parameter defaulting to flyte.TriggerTime receives the fire time as well.
    time_keys += [i.name for i in spec.interface.inputs if i.default is TriggerTime and i.name not in inputs]
    fixed = {k: v for k, v in inputs.items() if v is not TriggerTime and k in names}
    overrides: dict[str, Any] = {}
    if trigger.env_vars:
        overrides["env_vars"] = {**spec.env_vars, **trigger.env_vars}
    if trigger.interruptible is not None:
        overrides["interruptible"] = trigger.interruptible
    if trigger.queue:
        overrides["queue"] = trigger.queue
    triggered = attrs.evolve(spec, **overrides)
    trigger_ctx = attrs.evolve(ctx, inputs={**(ctx.inputs or {}), **fixed}, run_name=f"trigger-{trigger.name}")
    job = job_spec(triggered, trigger_ctx)
    container = job["template"]["spec"]["containers"][0]
    extra = [{"name": "FLYTE_TRIGGER_TIME_INPUTS", "value": ",".join(time_keys)}] if time_keys else []
    options = run_options_env(
        custom_context=trigger.custom_context,
        max_action_concurrency=trigger.max_action_concurrency,
        overwrite_cache=trigger.overwrite_cache,
    )
    extra += [{"name": key, "value": value} for key, value in options.items()]
    container["env"] = [*container["env"], *extra]
    name = dns_name(spec.env_name, spec.function_name, trigger.name, max_len=52)
    labels = {**ctx.labels(triggered), "flyte.org/trigger": label_value(trigger.name), **(trigger.labels or {})}
    metadata: dict[str, Any] = {"name": name, "namespace": ctx.settings.namespace, "labels": labels}
    if trigger.annotations or trigger.description:
        metadata["annotations"] = {
            **({"flyte.org/description": trigger.description} if trigger.description else {}),
            **(trigger.annotations or {}),
        }
    cron: dict[str, Any] = {
        "schedule": schedule,
        "suspend": not trigger.auto_activate,
        "concurrencyPolicy": "Allow",
        "timeZone": zone,
        "jobTemplate": {"metadata": {"labels": labels}, "spec": job},
    }
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": cron}


def render_plain_task(spec: Any, ctx: RenderContext) -> list[dict[str, Any]]:
    objects = [render_job(spec, ctx)]
    # A manual trigger (no automation) has no schedule: nothing on the cluster fires it.
    objects.extend(render_cronjob(spec, trigger, ctx) for trigger in spec.triggers if trigger.automation is not None)
    return objects
