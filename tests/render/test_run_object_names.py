"""The name a run's object gets on the cluster: unique per run, valid for every operator."""

import re

import pytest

from flyte.kube.backend import RUN_OBJECT_NAME_LIMIT, run_object_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    "rendered",
    [
        "env-main",
        "a" * 47,
        "very-long-environment-name-with-a-long-function-name-x",
        "ends-with-hyphen-at-the-cut-" * 2,
    ],
)
@pytest.mark.parametrize("run", ["r2zqkdgdka", "nightly-2026-12-02-report"])
def test_the_name_keeps_the_whole_run_name_within_kuberays_limit(rendered, run):
    name = run_object_name(rendered, run)
    assert len(name) <= RUN_OBJECT_NAME_LIMIT == 47  # KubeRay refuses a RayJob name over 47
    assert name.endswith(f"-{run}") and DNS_LABEL.match(name), name
    assert name.startswith(rendered[:8])


def test_two_runs_of_one_long_named_task_get_two_names():
    rendered = "x" * 60
    assert run_object_name(rendered, "run-one") != run_object_name(rendered, "run-two")
