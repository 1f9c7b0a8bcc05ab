"""Rendered Kubernetes objects checked offline, as the API server and the operators would.

- A kind defined by a CRD in ``crds/`` (RayJob, RayCluster, PyTorchJob, SparkApplication,
  ScheduledSparkApplication, DaskJob, DaskCluster, JobSet): its version's ``openAPIV3Schema`` with the
  API server's structural semantics and strict field validation (:mod:`structural`).
- A built-in kind (Job, CronJob, Pod, ConfigMap, ...): the strict JSON schemas of
  ``kubernetes-validate`` for a given Kubernetes release.
- For every kind, what neither schema says: ``metadata.name`` rules per kind (including the
  operators' own limits), label and annotation syntax, resource quantities as the API server
  parses them, and the admission checks the operators run on create (:func:`operator_errors`).

``validate(obj)`` returns a list of ``path: message`` lines, empty when the object is valid.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from . import structural

CRD_DIR = Path(__file__).resolve().parent / "crds"
DEFAULT_K8S_VERSION = "1.30"

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RFC1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?(\d+(\.\d*)?|\.\d+))?$")

# kind -> (pattern, longest name, who says so). Others: a DNS subdomain of at most 253.
NAMES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "Service": (RFC1035_LABEL, 63, "Kubernetes"),
    "Namespace": (RFC1123_LABEL, 63, "Kubernetes"),
    "Job": (SUBDOMAIN, 63, "Kubernetes: the name becomes the pods' job-name label"),
    "CronJob": (SUBDOMAIN, 52, "Kubernetes: its Jobs add an 11-character suffix"),
    "RayJob": (RFC1035_LABEL, 47, "KubeRay's validation: names of the cluster and services derive from it"),
    "RayCluster": (RFC1035_LABEL, 53, "KubeRay's validation"),
    "PyTorchJob": (RFC1035_LABEL, 63, "the training operator's webhook"),
    "SparkApplication": (RFC1035_LABEL, 63, "the Spark operator's webhook"),
    "DaskJob": (RFC1035_LABEL, 63, "the Dask operator: services are named after it"),
    "DaskCluster": (RFC1035_LABEL, 63, "the Dask operator: services are named after it"),
    "JobSet": (RFC1035_LABEL, 63, "JobSet's webhook: its headless service is named after it"),
}
FAILURE_RULE_NAME = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


@cache
def crd_versions() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(group, kind) -> {version: CRD version entry} for every CRD under ``crds/<operator>/``."""
    found: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are megabytes of YAML
    for path in sorted(CRD_DIR.glob("*/*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=loader):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                spec = doc["spec"]
                found[(spec["group"], spec["names"]["kind"])] = {v["name"]: v for v in spec["versions"]}
    return found


def crd_files() -> list[Path]:
    """The CRD files (what a cluster would install)."""
    return sorted(CRD_DIR.glob("*/*.yaml"))


def _crd_schema(api_version: str, kind: str) -> dict[str, Any] | str | None:
    """The schema of a custom kind; None for a kind no CRD defines; a message for a version
    the CRD does not serve."""
    group, _, version = api_version.rpartition("/")
    versions = crd_versions().get((group, kind))
    if versions is None:
        return None
    entry = versions.get(version)
    if entry is None or not entry.get("served", True):
        served = [f"{group}/{v}" for v, e in versions.items() if e.get("served", True)]
        return f"apiVersion: {kind} is not served as {api_version} (served: {', '.join(served)})"
    return entry["schema"]["openAPIV3Schema"]


def validate(obj: Any, k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Every problem of one object, as ``path: message`` lines; [] when it is valid."""
    if not isinstance(obj, dict) or not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return ["<root>: not a Kubernetes object (apiVersion and kind are required)"]
    schema = _crd_schema(obj["apiVersion"], obj["kind"])
    if isinstance(schema, str):
        return [schema]
    if schema is not None:
        obj = structural.with_defaults(obj, schema)
        found = structural.errors(obj, _without_meta_fields(schema))
    else:
        found = _builtin_errors(obj, k8s_version)
    found += _metadata_errors(obj) + _nested_errors(obj, "")
    found = list(dict.fromkeys(found))
    return found or operator_errors(obj)  # operators only see what the API server admitted


def _without_meta_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The root schema with apiVersion/kind/metadata as the server types them (CRDs leave them
    loose; ObjectMeta is checked by :func:`_metadata_errors`)."""
    props = dict(schema.get("properties") or {})
    props.update(apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"type": "object"})
    props["metadata"]["x-kubernetes-preserve-unknown-fields"] = True
    return {**schema, "properties": props}


def _builtin_errors(obj: dict[str, Any], k8s_version: str) -> list[str]:
    try:
        kubernetes_validate.validate(obj, k8s_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        known = ", ".join(sorted(f"{kind} ({group})" for group, kind in crd_versions()))
        return [
            f"kind: {obj['kind']} in {obj['apiVersion']} is neither built into Kubernetes {k8s_version} "
            f"nor defined by a CRD in {CRD_DIR} ({known})"
        ]
    except kubernetes_validate.ValidationError as exc:
        path = _path(exc.absolute_path)
        if exc.validator == "additionalProperties":
            return [f"{path}: {exc.message} (unknown field)"]
        return [f"{path}: {exc.message[:300]}"]
    return []


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".") or "<root>"


def _metadata_errors(obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return ["metadata: required field is missing"]
    found = []
    name = meta.get("name")
    pattern, longest, who = NAMES.get(obj["kind"], (SUBDOMAIN, 253, "Kubernetes"))
    if name is None:
        if not meta.get("generateName"):
            found.append("metadata.name: required field is missing (or set metadata.generateName)")
    elif not (isinstance(name, str) and len(name) <= longest and pattern.match(name)):
        found.append(f"metadata.name: {name!r} is not a valid {obj['kind']} name (at most {longest} characters; {who})")
    namespace = meta.get("namespace")
    if namespace is not None and not (
        isinstance(namespace, str) and len(namespace) <= 63 and RFC1123_LABEL.match(namespace)
    ):
        found.append(f"metadata.namespace: {namespace!r} is not a DNS label")
    return found


def _nested_errors(node: Any, path: str) -> list[str]:
    """Label and annotation syntax of every metadata, and every resource quantity, at any depth
    (a pod template inside a Job or a custom resource is checked when its pods are made)."""
    found: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            found += _nested_errors(item, f"{path}[{i}]")
        return found
    if not isinstance(node, dict):
        return found
    for key, value in node.items():
        here = f"{path}.{key}" if path else key
        if key == "metadata" and isinstance(value, dict):
            for field in ("labels", "annotations"):
                for k, v in (value.get(field) or {}).items():
                    found += [f"{here}.{field}.{k}: {e}" for e in _label_errors(field, k, v)]
        if key in ("requests", "limits") and path.endswith("resources") and isinstance(value, dict):
            for name, quantity in value.items():
                if isinstance(quantity, float) or (isinstance(quantity, str) and not QUANTITY.match(quantity)):
                    found.append(f"{here}.{name}: {quantity!r} is not a Kubernetes quantity (e.g. 2, 500m, 1.5Gi)")
        found += _nested_errors(value, here)
    return found


def _label_errors(field: str, key: Any, value: Any) -> list[str]:
    prefix, _, name = str(key).rpartition("/")
    found = []
    if not (LABEL_NAME.match(name) and len(name) <= 63) or (prefix and not SUBDOMAIN.match(prefix)):
        found.append("invalid key (a name of at most 63 letters, digits, '-', '_', '.', with an optional DNS prefix/)")
    if not isinstance(value, str):
        found.append(f"{value!r} must be a string")
    elif field == "labels" and (len(value) > 63 or (value and not LABEL_NAME.match(value))):
        found.append(f"invalid label value {value!r} (at most 63 letters, digits, '-', '_', '.')")
    return found


def operator_errors(obj: dict[str, Any]) -> list[str]:
    """Checks the operators make on create, beyond their CRD's schema."""
    spec = obj.get("spec") or {}
    if obj["kind"] == "PyTorchJob":
        return _pytorchjob_errors(spec)
    if obj["kind"] == "JobSet":
        return _jobset_errors(obj["metadata"]["name"], spec)
    roles_select = any("nodeSelector" in (spec.get(role) or {}) for role in ("driver", "executor"))
    if obj["kind"] == "SparkApplication" and "nodeSelector" in spec and roles_select:
        # spark-operator's webhook: a node selector on the app excludes one on a role.
        return ["spec.nodeSelector: set here and on the driver or executor (set one)"]
    return []


def _pytorchjob_errors(spec: dict[str, Any]) -> list[str]:
    """The training operator v1's webhook, after its defaulting (roles title-cased, 1 replica)."""
    found = []
    roles = {str(role).title(): rspec or {} for role, rspec in (spec.get("pytorchReplicaSpecs") or {}).items()}
    for role, rspec in roles.items():
        here = f"spec.pytorchReplicaSpecs.{role}"
        containers = ((rspec.get("template") or {}).get("spec") or {}).get("containers") or []
        if role not in ("Master", "Worker"):
            found.append(f"{here}: the replica type must be Master or Worker")
        if not any(c.get("name") == "pytorch" for c in containers):
            found.append(f"{here}.template.spec.containers: one container must be named 'pytorch'")
        replicas = rspec.get("replicas", 1)
        if role == "Master" and replicas != 1:
            found.append(f"{here}.replicas: a Master has exactly 1 replica, not {replicas}")
        elif replicas < 1:
            found.append(f"{here}.replicas: at least 1, not {replicas}")
    if "elasticPolicy" in spec and "Worker" not in roles:
        found.append("spec.pytorchReplicaSpecs.Worker: required with an elasticPolicy")
    return found


def _jobset_errors(name: str, spec: dict[str, Any]) -> list[str]:
    """JobSet's webhook on create: every Job's and every Indexed pod's name (with the 5
    random characters a Job adds) must be a DNS-1035 label; failure policy rules are named as
    its API says and target replicated jobs that exist."""
    found = []
    jobs = spec.get("replicatedJobs") or []
    for i, rjob in enumerate(jobs):
        here = f"spec.replicatedJobs[{i}]"
        last_job = f"{name}-{rjob['name']}-{rjob.get('replicas', 1) - 1}"
        if not (len(last_job) <= 63 and RFC1035_LABEL.match(last_job)):
            found.append(f"{here}.name: its Jobs' names ({last_job!r}) are not DNS-1035 labels")
        job = (rjob.get("template") or {}).get("spec") or {}
        if job.get("completionMode") == "Indexed" and job.get("completions"):
            last_pod = f"{last_job}-{job['completions'] - 1}-abcde"
            if not (len(last_pod) <= 63 and RFC1035_LABEL.match(last_pod)):
                found.append(
                    f"{here}: its pods' names ({last_pod!r}, 5 random characters last) are not DNS-1035 labels"
                )
    names = {rjob["name"] for rjob in jobs}
    for i, rule in enumerate((spec.get("failurePolicy") or {}).get("rules") or []):
        here = f"spec.failurePolicy.rules[{i}]"
        if not FAILURE_RULE_NAME.match(rule.get("name", "")):
            found.append(f"{here}.name: {rule.get('name')!r} does not match {FAILURE_RULE_NAME.pattern}")
        unknown = sorted(set(rule.get("targetReplicatedJobs") or []) - names)
        if unknown:
            found.append(f"{here}.targetReplicatedJobs: no replicated job named {', '.join(unknown)}")
    return found


def documents(text: str) -> list[Any]:
    """The objects of a YAML stream or a JSON document (a ``kind: ...List`` is unpacked)."""
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    out = []
    for doc in docs:
        if isinstance(doc, list):
            out.extend(doc)
        elif isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
            out.extend(doc["items"])
        else:
            out.append(doc)
    return out


def validate_path(path: Path, k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Problems of every object in a file, or in every .yaml/.yml/.json file under a folder,
    each line prefixed with the object it belongs to."""
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json")) if path.is_dir() else [path]
    found = []
    for file in files:
        for i, obj in enumerate(documents(file.read_text())):
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            label = f"{file.name}#{i} {obj.get('kind') if isinstance(obj, dict) else '?'}/"
            label += str((meta or {}).get("name", "?")) if isinstance(meta, dict) else "?"
            found += [f"{label}: {problem}" for problem in validate(obj, k8s_version)]
    return found
