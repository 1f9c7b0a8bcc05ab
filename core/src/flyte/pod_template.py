"""Pod templates: a Kubernetes pod spec the task's container is merged into.

``pod_spec`` is a ``kubernetes.client.V1PodSpec`` (or the same as a plain dict). The kubernetes
client is imported only when a pod spec is given, never at ``import flyte``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from flyte._validation import invalid, str_dict, wrong_type


def pod_spec_to_dict(pod_spec: Any) -> dict[str, Any]:
    """A V1PodSpec (or dict) as the plain camelCase dict the Kubernetes API uses."""
    if isinstance(pod_spec, dict):
        return pod_spec
    from kubernetes.client import ApiClient  # only reached when a pod spec was given

    return ApiClient().sanitize_for_serialization(pod_spec)


def _pod_spec_key(pod_spec: Any) -> str | None:
    # V1PodSpec is mutable and unhashable; compare and hash templates by content instead.
    return None if pod_spec is None else json.dumps(pod_spec_to_dict(pod_spec), sort_keys=True)


def _check_pod_spec(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    from kubernetes.client import V1PodSpec

    if not isinstance(value, V1PodSpec):
        wrong_type("pod_template.pod_spec", value, "kubernetes.client.V1PodSpec or a dict")
    return value


@attrs.frozen
class PodTemplate:
    """Customise the pod a task runs in: sidecars, volumes, labels, annotations, pull secrets.

    The task's code runs in the container named ``primary_container_name``; when ``pod_spec``
    is given it must contain a container of that name. Only the task code runs locally.
    """

    pod_spec: Any = attrs.field(default=None, converter=_check_pod_spec, eq=_pod_spec_key)
    primary_container_name: str = attrs.field(default="primary")
    labels: dict[str, str] | None = attrs.field(
        default=None, converter=str_dict("pod_template.labels"), eq=lambda d: tuple(sorted((d or {}).items()))
    )
    annotations: dict[str, str] | None = attrs.field(
        default=None,
        converter=str_dict("pod_template.annotations"),
        eq=lambda d: tuple(sorted((d or {}).items())),
    )

    def __attrs_post_init__(self) -> None:
        name = self.primary_container_name
        if not isinstance(name, str) or not name:
            wrong_type("pod_template.primary_container_name", name, "a non-empty str")
        if self.pod_spec is None:
            return
        containers = [c.get("name") for c in self.pod_spec_dict().get("containers") or []]
        if name not in containers:
            invalid(
                "pod_template.primary_container_name",
                name,
                f"the name of a container in pod_spec.containers: {containers}",
                "names no container in pod_spec",
            )

    def pod_spec_dict(self) -> dict[str, Any]:
        """The pod spec as a plain dict (camelCase keys), empty when none was given."""
        return {} if self.pod_spec is None else pod_spec_to_dict(self.pod_spec)
