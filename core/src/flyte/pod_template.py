"""Pod templates: a Kubernetes pod spec the task's container is merged into.

``pod_spec`` is a ``kubernetes.client.V1PodSpec`` (or the same as a plain dict). The kubernetes
client is imported only when a pod spec is given, never at ``import flyte``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from flyte._validation import invalid, k8s_annotations, k8s_labels, wrong_type

DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$")


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
    if value is None:
        return value
    if not isinstance(value, dict):
        from kubernetes.client import V1PodSpec

        if not isinstance(value, V1PodSpec):
            wrong_type("pod_template.pod_spec", value, "kubernetes.client.V1PodSpec or a dict")
    _check_model(pod_spec_to_dict(value), "V1PodSpec", "pod_template.pod_spec")
    return value


def _check_model(value: Any, kind: str, path: str) -> None:
    """``value`` (plain camelCase data) against the kubernetes client's model ``kind``: every
    field known (with a suggestion for a misspelt one), lists, maps and scalars where the model
    has them, required fields present. The validator would refuse the rendered pod otherwise."""
    if kind == "object":
        return
    if kind.startswith("List["):
        if not isinstance(value, list):
            wrong_type(path, value, "a list")
        for i, item in enumerate(value):
            _check_model(item, kind[5:-1], f"{path}[{i}]")
        return
    if kind.startswith("Dict["):
        if not isinstance(value, dict):
            wrong_type(path, value, "a mapping")
        inner = kind[5:-1].partition(", ")[2]
        for key, item in value.items():
            _check_model(item, inner, f"{path}[{key!r}]")
        return
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        if not scalar[0](value):
            wrong_type(path, value, scalar[1])
        return
    import kubernetes.client.models as models

    model = getattr(models, kind)
    if not isinstance(value, dict):
        wrong_type(path, value, f"a mapping ({kind})")
    fields = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(str(key), list(fields), 1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            invalid(f"{path}.{key}", key, f"{hint}the fields of a Kubernetes {kind[2:]}", "is not a known field")
        if item is not None:
            _check_model(item, model.openapi_types[fields[key]], f"{path}.{key}")
    given = {fields[k] for k, v in value.items() if v is not None}
    # Required fields, where the client's models say (pydantic-based clients, kubernetes >= 35).
    required = [a for a, f in getattr(model, "model_fields", {}).items() if f.is_required() and a not in given]
    if required:
        missing = ", ".join(model.attribute_map[a] for a in required)
        invalid(path, value, f"a Kubernetes {kind[2:]} with {missing}", f"has no {missing}")


# Scalar field types of the kubernetes models: a test and what it accepts. Strings also take
# numbers, as the API does for quantities (resources.limits) and int-or-string fields.
_SCALARS: dict[str, tuple[Any, str]] = {
    "str": (lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool), "a str"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "datetime": (lambda v: isinstance(v, str), "an RFC 3339 time"),
    "date": (lambda v: isinstance(v, str), "an RFC 3339 date"),
    "bytes": (lambda v: isinstance(v, str), "base64 text"),
}


@attrs.frozen
class PodTemplate:
    """Customise the pod a task runs in: sidecars, volumes, labels, annotations, pull secrets.

    The task's code runs in the container named ``primary_container_name``; when ``pod_spec``
    is given it must contain a container of that name. Only the task code runs locally.
    """

    pod_spec: Any = attrs.field(default=None, converter=_check_pod_spec, eq=_pod_spec_key)
    primary_container_name: str = attrs.field(default="primary")
    labels: dict[str, str] | None = attrs.field(
        default=None, converter=k8s_labels("pod_template.labels"), eq=lambda d: tuple(sorted((d or {}).items()))
    )
    annotations: dict[str, str] | None = attrs.field(
        default=None,
        converter=k8s_annotations("pod_template.annotations"),
        eq=lambda d: tuple(sorted((d or {}).items())),
    )

    def __attrs_post_init__(self) -> None:
        name = self.primary_container_name
        if not isinstance(name, str) or not name:
            wrong_type("pod_template.primary_container_name", name, "a non-empty str")
        if len(name) > 63 or not DNS_LABEL.fullmatch(name):
            invalid(
                "pod_template.primary_container_name",
                name,
                "a container name: at most 63 lower-case letters, digits and '-', starting and ending with a "
                "letter or digit",
            )
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
