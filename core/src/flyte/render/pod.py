"""The task's container and pod spec, shared by the core renderer and every plugin.

Each setting maps to one place in the pod (the README has the full table):

- ``image`` → ``containers[].image``; ``Image.registry_secret`` → ``imagePullSecrets``
- ``resources`` → requests/limits (a single value sets both; a tuple is (request, limit));
  ``disk`` → ``ephemeral-storage``; GPUs → ``nvidia.com/gpu`` (or ``nvidia.com/mig-<profile>``)
  plus a node selector for the model; TPUs → ``google.com/tpu`` plus accelerator and
  topology selectors; ``shm`` → a memory ``emptyDir`` at ``/dev/shm``
- ``env_vars`` → ``env``; secrets → ``secretKeyRef`` env vars, or a projected secret volume
  at ``/etc/flyte/secrets`` (references only, never values)
- ``interruptible`` → spot toleration and node affinity; ``queue`` → label and node selector
- ``service_account`` → ``serviceAccountName``
- ``pod_template`` → the base pod: its labels, annotations, sidecars, volumes and pull
  secrets stay, and the task container is merged into the container named
  ``primary_container_name``. Given by name, it is the cluster's PodTemplate of that name,
  read where rendering talks to the cluster (:func:`cluster_pod_template`); offline the pod
  names it in the ``flyte.org/pod-template`` annotation.
"""

from __future__ import annotations

import copy
from typing import Any

from flyte import _codec
from flyte.image import Image
from flyte.interface import NO_DEFAULT
from flyte.pod_template import PodTemplate
from flyte.render.names import dns_name, label_value, secret_name
from flyte.resources import Device
from flyte.secret import SECRET_ENV_VARS, SECRETS_MOUNT

GPU_MODELS = {
    "T4": "nvidia-tesla-t4",
    "L4": "nvidia-l4",
    "L40s": "nvidia-l40s",
    "A10": "nvidia-a10",
    "A10G": "nvidia-a10g",
    "A30": "nvidia-a30",
    "A100": "nvidia-tesla-a100",
    "A100 80G": "nvidia-a100-80gb",
    "V100": "nvidia-tesla-v100",
    "H100": "nvidia-h100-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
    "RTX_PRO_6000": "nvidia-rtx-pro-6000",
}
TPU_ACCELERATORS = {"V5E": "tpu-v5-lite-podslice", "V5P": "tpu-v5p-slice", "V6E": "tpu-v6e-slice"}
DEVICE_RESOURCES = {
    "GPU": "nvidia.com/gpu",
    "TPU": "google.com/tpu",
    "NEURON": "aws.amazon.com/neuron",
    "AMD_GPU": "amd.com/gpu",
    "HABANA_GAUDI": "habana.ai/gaudi",
}
SECRETS_VOLUME = "flyte-secrets"
SHM_VOLUME = "flyte-shm"


def image_reference(spec: Any) -> str:
    """The image a task's pods run: for a ``flyte.Image``, the tag ``flyte build`` gives it,
    which covers the flyte code and user code it holds (see :mod:`flyte.render.build_context`)."""
    image = spec.image
    if not isinstance(image, Image):
        return image
    from flyte.render.build_context import context_for

    return context_for(image, spec.module, spec.include).uri


def object_labels(spec: Any, ctx: Any) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/managed-by": "flyte",
        "flyte.org/environment": label_value(spec.env_name),
        "flyte.org/task": label_value(spec.function_name),
    }
    if spec.queue:
        labels[ctx.settings.queue_label] = label_value(spec.queue)
    return labels


# Where an offline rendering keeps the name of a cluster PodTemplate it could not read.
POD_TEMPLATE_ANNOTATION = "flyte.org/pod-template"


def pod_metadata(spec: Any, ctx: Any) -> dict[str, Any]:
    labels = object_labels(spec, ctx)
    annotations: dict[str, str] = {}
    template = ctx.pod_template(spec)
    if template is not None:
        labels = {**(template.labels or {}), **labels}
        annotations.update(template.annotations or {})
    elif isinstance(spec.pod_template, str):
        annotations[POD_TEMPLATE_ANNOTATION] = spec.pod_template
    meta: dict[str, Any] = {"labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def entrypoint_command(spec: Any, ctx: Any) -> list[str]:
    return [ctx.settings.python, "-m", "flyte.entrypoint", "--module", spec.module, "--task", spec.function_name]


def task_inputs(spec: Any, ctx: Any) -> dict[str, Any]:
    """The inputs baked into the object: the given ones over the interface's defaults."""
    values = {i.name: i.default for i in spec.interface.inputs if i.default is not NO_DEFAULT}
    values.update(ctx.inputs or {})
    return values


def _env(spec: Any, ctx: Any, name: str) -> list[dict[str, Any]]:
    settings = ctx.settings
    env: dict[str, dict[str, Any]] = {}

    def put(key: str, entry: dict[str, Any]) -> None:
        env[key] = {"name": key, **entry}

    for key, value in ctx.run_env.items():
        put(key, {"value": value})
    for key, value in spec.env_vars.items():
        put(key, {"value": value})
    put("PYTHONPATH", {"value": settings.workdir})
    put("FLYTE_STORAGE", {"value": settings.storage})
    for key, value in storage_env(settings).items():
        put(key, {"value": value})
    put("FLYTE_INPUTS", {"value": _codec.dumps(task_inputs(spec, ctx), path="inputs")})
    put("FLYTE_OUTPUTS_URI", {"value": f"{settings.storage}/{ctx.run_name or 'jobs'}/{ctx.name(spec)}/outputs.json"})
    for secret in spec.secrets:
        if secret.env_var:
            put(
                secret.env_var,
                {"valueFrom": {"secretKeyRef": {"name": secret_name(secret.key, secret.group), "key": secret.key}}},
            )
    names = [secret.env_var for secret in spec.secrets if secret.env_var]
    if names:  # which of them are secrets, for the entrypoint to mask before it knows the task
        put(SECRET_ENV_VARS, {"value": ",".join(names)})
    return list(env.values())


def run_options_env(
    *,
    custom_context: dict[str, str] | None = None,
    max_action_concurrency: int | None = None,
    overwrite_cache: bool = False,
    disable_run_cache: bool = False,
) -> dict[str, str]:
    """A run's options as the container entrypoint reads them (``flyte.entrypoint``): what
    ``with_runcontext`` or the trigger that fired it set for the run a pod runs."""
    env: dict[str, str] = {}
    if custom_context:
        env["FLYTE_CUSTOM_CONTEXT"] = _codec.dumps(dict(custom_context), path="custom_context")
    if max_action_concurrency:
        env["FLYTE_MAX_ACTION_CONCURRENCY"] = str(max_action_concurrency)
    if overwrite_cache:
        env["FLYTE_OVERWRITE_CACHE"] = "true"
    if disable_run_cache:
        env["FLYTE_DISABLE_RUN_CACHE"] = "true"
    return env


def storage_env(settings: Any) -> dict[str, str]:
    """Plain (non-secret) settings of the store the container reaches: its endpoint."""
    if not settings.storage_endpoint:
        return {}
    from flyte.storage._config import provider_for
    from flyte.storage._filesystem import protocol_of

    provider = provider_for(protocol_of(settings.storage))
    if provider is None or "endpoint" not in provider.env:
        return {}
    return {provider.env["endpoint"]: settings.storage_endpoint}


def resource_quantities(res: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(requests, limits) for a ``Resources``: one value sets both, a tuple is (request, limit)."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res is None:
        return requests, limits
    for name in ("cpu", "memory"):
        if getattr(res, name) is not None:
            requests[name] = res.request(name)
            limits[name] = res.limit(name)
    if res.disk is not None:
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = res.request("disk")
    if res.device is not None:
        resource = device_resource(res.device)
        requests[resource] = limits[resource] = str(res.device.quantity)
    return requests, limits


def device_resource(device: Device) -> str:
    """The extended resource a device is requested as."""
    if device.device_class == "GPU" and device.partition and device.device in GPU_MODELS:
        return f"nvidia.com/mig-{device.partition}"  # an NVIDIA MIG slice
    if device.device_class == "CUSTOM" and device.device and "/" in device.device:
        return device.device
    return DEVICE_RESOURCES.get(device.device_class, "nvidia.com/gpu")


def _device_selectors(device: Device, ctx: Any) -> dict[str, str]:
    settings = ctx.settings
    if device.device_class == "TPU":
        selectors = {
            settings.tpu_accelerator_label: TPU_ACCELERATORS.get(device.device or "", label_value(device.device or ""))
        }
        if device.partition:
            selectors[settings.tpu_topology_label] = device.partition
        return selectors
    selectors = {}
    if device.device:
        selectors[settings.gpu_node_label] = GPU_MODELS.get(device.device, label_value(device.device))
    if device.partition and not (device.device_class == "GPU" and device.device in GPU_MODELS):
        selectors[settings.gpu_partition_label] = label_value(device.partition)
    return selectors


def task_container(spec: Any, ctx: Any, name: str = "primary") -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image_reference(spec),
        "command": entrypoint_command(spec, ctx),
        "workingDir": ctx.settings.workdir,
        "env": _env(spec, ctx, name),
    }
    if ctx.settings.storage_secret:  # the store's credentials: a reference to a Secret, never values
        container["envFrom"] = [{"secretRef": {"name": ctx.settings.storage_secret}}]
    requests, limits = resource_quantities(spec.resources)
    if requests or limits:
        container["resources"] = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    mounts = []
    if any(s.mount for s in spec.secrets):
        mounts.append({"name": SECRETS_VOLUME, "mountPath": SECRETS_MOUNT, "readOnly": True})
    if spec.resources is not None and spec.resources.shared_memory:
        mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    if mounts:
        container["volumeMounts"] = mounts
    return container


def _by_name(items: list[dict[str, Any]], extra: list[dict[str, Any]], key: str = "name") -> list[dict[str, Any]]:
    """Merge two lists of named entries; ``extra`` wins on a name clash (CRDs forbid repeats)."""
    merged = {item.get(key): item for item in items}
    for item in extra:
        merged[item.get(key)] = {**merged.get(item.get(key), {}), **item}
    return list(merged.values())


def cluster_pod_template(name: str, obj: dict[str, Any]) -> PodTemplate:
    """A cluster's PodTemplate object (camelCase, as the API returns it) as the base of a
    task's pod, the way Flyte's backend applies a named template: its pod fields, labels and
    annotations are kept; its containers named ``default`` and ``primary`` (over ``default``)
    are templates of the task's container, and no container of the template is added to the pod."""
    template = obj.get("template") or {}
    meta = template.get("metadata") or {}
    pod = copy.deepcopy(template.get("spec") or {})
    bases = {c.get("name"): c for c in pod.get("containers") or []}
    primary: dict[str, Any] = {"name": "primary"}
    for base in (bases.get("default"), bases.get("primary")):
        for key, value in (base or {}).items():
            if key in ("env", "volumeMounts") and key in primary:
                primary[key] = _by_name(primary[key], value, key="name" if key == "env" else "mountPath")
            elif key != "name":
                primary[key] = copy.deepcopy(value)
    pod["containers"] = [primary]
    try:
        return PodTemplate(
            pod_spec=pod,
            labels=meta.get("labels"),
            annotations=meta.get("annotations"),
            primary_container_name="primary",
        )
    except (TypeError, ValueError) as exc:
        from flyte.errors import RenderError

        raise RenderError(f"the cluster's PodTemplate {name!r} cannot be merged into a task's pod: {exc}") from None


def task_pod_spec(
    spec: Any, ctx: Any, container_name: str | None = None, restart_policy: str | None = "Never"
) -> dict[str, Any]:
    template = ctx.pod_template(spec)
    pod: dict[str, Any] = copy.deepcopy(template.pod_spec_dict()) if template else {}
    primary = container_name or (template.primary_container_name if template else "primary")
    ours = task_container(spec, ctx, primary)
    containers = pod.get("containers") or []
    base = next((c for c in containers if c.get("name") == primary), None)
    if base is None:
        containers.insert(0, ours)
    else:
        merged = {**base, **{k: v for k, v in ours.items() if k not in ("env", "volumeMounts", "resources")}}
        merged["env"] = _by_name(base.get("env") or [], ours["env"])
        mounts = _by_name(base.get("volumeMounts") or [], ours.get("volumeMounts") or [], key="mountPath")
        if mounts:
            merged["volumeMounts"] = mounts
        resources = {**(base.get("resources") or {})}
        for kind in ("requests", "limits"):
            if kind in ours.get("resources", {}):
                resources[kind] = {**resources.get(kind, {}), **ours["resources"][kind]}
        if resources:
            merged["resources"] = resources
        containers[containers.index(base)] = merged
    pod["containers"] = containers
    if restart_policy:
        pod["restartPolicy"] = restart_policy

    volumes = pod.get("volumes") or []
    mounted = [s for s in spec.secrets if s.mount]
    if mounted:
        sources = [
            {"secret": {"name": secret_name(s.key, s.group), "items": [{"key": s.key, "path": s.key}]}} for s in mounted
        ]
        volumes = _by_name(volumes, [{"name": SECRETS_VOLUME, "projected": {"sources": sources}}])
    if spec.resources is not None and spec.resources.shared_memory:
        shm: dict[str, Any] = {"medium": "Memory"}
        if spec.resources.shared_memory != "auto":
            shm["sizeLimit"] = spec.resources.shared_memory
        volumes = _by_name(volumes, [{"name": SHM_VOLUME, "emptyDir": shm}])
    if volumes:
        pod["volumes"] = volumes

    image = spec.image
    if isinstance(image, Image) and image.registry_secret:
        pull = {"name": dns_name(image.registry_secret, max_len=253)}
        pod["imagePullSecrets"] = _by_name(pod.get("imagePullSecrets") or [], [pull])

    selectors = dict(pod.get("nodeSelector") or {})
    if spec.resources is not None and spec.resources.device is not None:
        selectors.update(_device_selectors(spec.resources.device, ctx))
    if spec.queue:
        selectors[ctx.settings.queue_node_label] = label_value(spec.queue)
    if selectors:
        pod["nodeSelector"] = selectors
    if spec.interruptible:
        _spot(pod, ctx)
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    if spec.timeout is not None and spec.timeout.max_runtime is not None:
        pod["activeDeadlineSeconds"] = max(1, int(spec.timeout.max_runtime.total_seconds()))
    return pod


def _spot(pod: dict[str, Any], ctx: Any) -> None:
    settings = ctx.settings
    toleration = {
        "key": settings.spot_taint_key,
        "operator": "Equal",
        "value": settings.spot_node_value,
        "effect": "NoSchedule",
    }
    pod["tolerations"] = [*(pod.get("tolerations") or []), toleration]
    term = {
        "matchExpressions": [{"key": settings.spot_node_label, "operator": "In", "values": [settings.spot_node_value]}]
    }
    affinity = pod.setdefault("affinity", {})
    node = affinity.setdefault("nodeAffinity", {})
    required = node.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []})
    terms = required.setdefault("nodeSelectorTerms", [])
    if terms:  # AND our expression into every existing term
        for existing in terms:
            existing.setdefault("matchExpressions", []).extend(term["matchExpressions"])
    else:
        terms.append(term)
