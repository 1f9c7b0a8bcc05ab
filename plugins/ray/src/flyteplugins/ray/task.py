"""The Ray plugin's configuration: ``RayJobConfig``, ``HeadNodeConfig``, ``WorkerNodeConfig``.

These are plain, deeply frozen value objects validated when they are created (dict fields are
accepted as dicts and stored as ``flyte.frozen.FrozenDict``), so configs and the specs that hold
them are hashable; they import no Ray.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from flyte import PodTemplate, Resources
from flyte.extend import FrozenDict, freeze

GROUP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
AUTOSCALER_OPTIONS = {
    "idle_timeout_seconds": "idleTimeoutSeconds",
    "upscaling_mode": "upscalingMode",
    "image": "image",
    "image_pull_policy": "imagePullPolicy",
    "resources": "resources",
    "env": "env",
    "env_from": "envFrom",
    "security_context": "securityContext",
    "volume_mounts": "volumeMounts",
    "version": "version",
}


def _bad(param: str, value: Any, accepted: str, problem: str = "is not valid") -> ValueError:
    return ValueError(f"{param}: {value!r} {problem} (accepted: {accepted})")


def _start_params(param: str):
    def convert(value: Any) -> FrozenDict | None:
        if value is None:
            return None
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise TypeError(f"{param}: expected a dict of `ray start` options, got {value!r}")
        # KubeRay takes every rayStartParams value as a string.
        text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return FrozenDict(text)

    return convert


def _optional(cls: type, param: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"{param}: expected a flyte.{cls.__name__} or None, got {value!r}")

    return check


def _flag(param: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if not isinstance(value, bool):  # a truthy "no" would silently mean True
            raise TypeError(f"{param}: expected True or False, got {value!r}")

    return check


def _count(param: str, allow_none: bool = False):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(param, value, "an int >= 0")

    return check


@attrs.frozen
class HeadNodeConfig:
    """The Ray head: ``ray start`` parameters, its pod template and its requests/limits."""

    ray_start_params: FrozenDict | None = attrs.field(
        default=None, converter=_start_params("HeadNodeConfig.ray_start_params")
    )
    pod_template: PodTemplate | None = attrs.field(
        default=None, validator=_optional(PodTemplate, "HeadNodeConfig.pod_template")
    )
    requests: Resources | None = attrs.field(default=None, validator=_optional(Resources, "HeadNodeConfig.requests"))
    limits: Resources | None = attrs.field(default=None, validator=_optional(Resources, "HeadNodeConfig.limits"))


@attrs.frozen
class WorkerNodeConfig:
    """A group of Ray workers: ``replicas`` (between ``min_replicas`` and ``max_replicas``
    when autoscaling), ``ray start`` parameters, pod template and requests/limits."""

    group_name: str = attrs.field()
    replicas: int = attrs.field(default=1, validator=_count("WorkerNodeConfig.replicas"))
    min_replicas: int | None = attrs.field(default=None, validator=_count("WorkerNodeConfig.min_replicas", True))
    max_replicas: int | None = attrs.field(default=None, validator=_count("WorkerNodeConfig.max_replicas", True))
    ray_start_params: FrozenDict | None = attrs.field(
        default=None, converter=_start_params("WorkerNodeConfig.ray_start_params")
    )
    pod_template: PodTemplate | None = attrs.field(
        default=None, validator=_optional(PodTemplate, "WorkerNodeConfig.pod_template")
    )
    requests: Resources | None = attrs.field(default=None, validator=_optional(Resources, "WorkerNodeConfig.requests"))
    limits: Resources | None = attrs.field(default=None, validator=_optional(Resources, "WorkerNodeConfig.limits"))

    @group_name.validator
    def _check_name(self, _attribute: Any, value: Any) -> None:
        if not isinstance(value, str) or not GROUP_NAME.match(value) or len(value) > 63:
            raise _bad("WorkerNodeConfig.group_name", value, "lower-case letters, digits and '-', e.g. ray-workers")

    def __attrs_post_init__(self) -> None:
        low = self.min_replicas if self.min_replicas is not None else 0
        high = self.max_replicas if self.max_replicas is not None else max(self.replicas, low)
        if not low <= self.replicas <= high:
            raise _bad(
                "WorkerNodeConfig.replicas",
                self.replicas,
                f"min_replicas <= replicas <= max_replicas ({low} <= replicas <= {high})",
                "is out of range",
            )

    @property
    def bounds(self) -> tuple[int, int]:
        low = self.min_replicas if self.min_replicas is not None else self.replicas
        high = self.max_replicas if self.max_replicas is not None else self.replicas
        return low, high


def _workers(value: Any) -> tuple[WorkerNodeConfig, ...]:
    items = (value,) if isinstance(value, WorkerNodeConfig) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(w, WorkerNodeConfig) for w in items):
        raise TypeError(f"RayJobConfig.worker_node_config: expected a list of WorkerNodeConfig, got {value!r}")
    names = [w.group_name for w in items]
    for name in names:
        if names.count(name) > 1:
            raise _bad("RayJobConfig.worker_node_config", name, "a unique group_name per worker group", "is used twice")
    return tuple(items)


def _runtime_env(value: Any) -> FrozenDict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"RayJobConfig.runtime_env: expected a dict (Ray's runtime_env), got {value!r}")
    return freeze(value)


def _autoscaler(value: Any) -> FrozenDict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"RayJobConfig.autoscaler_options: expected a dict, got {value!r}")
    known = {**AUTOSCALER_OPTIONS, **{v: v for v in AUTOSCALER_OPTIONS.values()}}
    for key in value:
        if key not in known:
            raise _bad(
                "RayJobConfig.autoscaler_options", key, ", ".join(AUTOSCALER_OPTIONS), "is not an autoscaler option"
            )
    return freeze(value)


@attrs.frozen
class RayJobConfig:
    """Run the task in a Ray cluster: locally a real Ray runtime in this process's machine;
    on Kubernetes a KubeRay ``RayJob`` with a head and the worker groups.

    ``address`` connects to an existing cluster instead of starting one.
    ``runtime_env`` is Ray's (``env_vars`` and ``working_dir`` apply locally too).
    """

    # Required, as on the reference plugin (an empty list is a head-only cluster).
    worker_node_config: tuple[WorkerNodeConfig, ...] = attrs.field(converter=_workers)
    head_node_config: HeadNodeConfig | None = attrs.field(
        default=None, validator=_optional(HeadNodeConfig, "RayJobConfig.head_node_config")
    )
    enable_autoscaling: bool = attrs.field(default=False, validator=_flag("RayJobConfig.enable_autoscaling"))
    autoscaler_options: FrozenDict | None = attrs.field(default=None, converter=_autoscaler)
    runtime_env: FrozenDict | None = attrs.field(default=None, converter=_runtime_env)
    address: str | None = attrs.field(default=None)
    shutdown_after_job_finishes: bool = attrs.field(
        default=False, validator=_flag("RayJobConfig.shutdown_after_job_finishes")
    )
    ttl_seconds_after_finished: int | None = attrs.field(
        default=None, validator=_count("RayJobConfig.ttl_seconds_after_finished", True)
    )

    def __attrs_post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise _bad("RayJobConfig.address", self.address, 'a Ray address such as "ray://host:10001" or "auto"')
