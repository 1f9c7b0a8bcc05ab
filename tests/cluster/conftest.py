"""A real Kubernetes API server for the tests of this folder (``make test-cluster``).

Two roles, which a user's cluster plays both of (``FLYTE_TEST_KUBECONTEXT``), and which
``.ci/test-cluster`` gives to two servers of ``../shared/tools/kube``:

- ``crd``: serves the operators' CRDs (installed from ``tests/kubeschema/crds``) and their
  custom resources, with strict field validation, defaulting and CEL rules;
- ``core``: serves batch Jobs, with the Job controller making their Pods.

Without either variable every test here is skipped.
"""

from __future__ import annotations

from typing import Any

import pytest

from cluster.kubeapi import CORE_CONTEXT, CRD_CONTEXT, api_client, install_crds


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CRD_CONTEXT and CORE_CONTEXT:
        return
    skip = pytest.mark.skip(reason="no API server (make test-cluster, or set FLYTE_TEST_KUBECONTEXT)")
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def crd_api() -> Any:
    """The ``crd`` server's client, with every CRD of ``tests/kubeschema/crds`` Established."""
    api = api_client(CRD_CONTEXT)
    install_crds(api)
    return api


@pytest.fixture(scope="session")
def core_api() -> Any:
    return api_client(CORE_CONTEXT)
