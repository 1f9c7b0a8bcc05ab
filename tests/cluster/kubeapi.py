"""Helpers for tests against a real API server: clients, CRD installation, raw calls,
waiting for a condition, and a flyte config that selects the Kubernetes backend."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeschema.validate import crd_files

KUBECONFIG = os.environ.get("FLYTE_TEST_KUBECONFIG") or os.environ.get("KUBECONFIG")
USER_CONTEXT = os.environ.get("FLYTE_TEST_KUBECONTEXT")
CRD_CONTEXT = os.environ.get("FLYTE_TEST_CRD_CONTEXT") or USER_CONTEXT
CORE_CONTEXT = os.environ.get("FLYTE_TEST_CORE_CONTEXT") or USER_CONTEXT
NAMESPACE = os.environ.get("FLYTE_TEST_NAMESPACE", "default")


def api_client(context: str) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=KUBECONFIG, context=context)


DIGEST_ANNOTATION = "flyte.test/crd-digest"


def install_crds(api: Any) -> None:
    """Create each CRD, or replace it when the server holds another version of the file (a
    digest annotation tells); then wait until every one is Established."""
    import hashlib

    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in crd_files():
        text = path.read_text()
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        for doc in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            name = doc["metadata"]["name"]
            names.append(name)
            doc["metadata"].setdefault("annotations", {})[DIGEST_ANNOTATION] = digest
            try:
                current = retried(lambda n=name: ext.read_custom_resource_definition(n))
            except ApiException as exc:
                if exc.status != 404:
                    raise
                retried(lambda d=doc: ext.create_custom_resource_definition(d))
                continue
            if (current.metadata.annotations or {}).get(DIGEST_ANNOTATION) != digest:
                doc["metadata"]["resourceVersion"] = current.metadata.resource_version
                retried(lambda n=name, d=doc: ext.replace_custom_resource_definition(n, d))
    for name in names:
        wait_for(lambda n=name: _established(ext, n), f"CRD {name} Established")


def retried(call: Any, attempts: int = 5) -> Any:
    """``call()``, again after a pause when a busy server answers 429 or 5xx."""
    from kubernetes.client.rest import ApiException

    for attempt in range(attempts):
        try:
            return call()
        except ApiException as exc:
            if exc.status not in (429, 500, 503, 504) or attempt == attempts - 1:
                raise
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def _established(ext: Any, name: str) -> bool:
    conditions = ext.read_custom_resource_definition(name).status.conditions or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def wait_for(condition: Any, what: str, timeout: float = 120.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after a
    generous ``timeout`` (a bound for a hung server, not a speed requirement)."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def call(api: Any, method: str, path: str, body: Any = None, query: list | None = None) -> tuple[int, Any]:
    """(status, decoded body) of one request; no exception for HTTP errors."""
    method_, url, headers, payload, _ = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        body=body,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method_, url, header_params=headers, body=payload)
    response.read()
    try:
        data = json.loads(response.data or b"null")
    except ValueError:
        data = response.data.decode(errors="replace")
    return response.status, data


def cluster_config(tmp_path: Path, context: str, storage: Path) -> Path:
    """A flyte config file that selects the Kubernetes backend on ``context``."""
    path = tmp_path / "flyte-config.yaml"
    section = {"context": context, "namespace": NAMESPACE, "storage": str(storage)}
    if KUBECONFIG:
        section["kubeconfig"] = KUBECONFIG
    path.write_text(yaml.safe_dump({"kubernetes": section}))
    return path
