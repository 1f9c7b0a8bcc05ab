"""A live cluster run, when there is one (FLYTE_TEST_KUBECONTEXT names a kubeconfig context).

See the README's "Trying it on a cluster" for a kind or k3d setup.
"""

from __future__ import annotations

import os

import pytest

import flyte

pytestmark = pytest.mark.cluster

CONTEXT = os.environ.get("FLYTE_TEST_KUBECONTEXT")
STORAGE = os.environ.get("FLYTE_TEST_STORAGE")


def test_kubernetes_section_selects_the_cluster_backend(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("kubernetes:\n  context: nowhere\n  namespace: ml\n  storage: s3://bucket/flyte\n")
    flyte.init_from_config(config)
    assert "Kubernetes backend" in capsys.readouterr().err
    from flyte.runtime import settings

    assert settings.current().backend == "kubernetes"
    bad = tmp_path / "bad.yaml"
    bad.write_text("kubernetes:\n  namespce: ml\n")
    with pytest.raises(RuntimeError, match="namespce"):
        flyte.init_from_config(bad)
    flyte.init()


@pytest.mark.skipif(
    not (CONTEXT and STORAGE), reason="no cluster configured (set FLYTE_TEST_KUBECONTEXT and FLYTE_TEST_STORAGE)"
)
def test_a_task_runs_on_the_cluster_and_its_outputs_come_back(tmp_path):
    env = flyte.TaskEnvironment(name="cluster_test", image=os.environ.get("FLYTE_TEST_IMAGE", "flyte-test:latest"))

    @env.task
    def add(a: int, b: int) -> int:
        return a + b

    config = tmp_path / "config.yaml"
    config.write_text(f"kubernetes:\n  context: {CONTEXT}\n  storage: {STORAGE}\n")
    flyte.init_from_config(config)
    try:
        assert flyte.run(add, 2, 3).outputs() == 5
    finally:
        flyte.init()
