"""The tests' own manifest validator (tests/kubeschema): the operators' official samples pass,
and each kind of mistake a cluster would reject is caught, with a message naming the field."""

from __future__ import annotations

import copy

import pytest

from kubeschema import structural  # tests/ is on sys.path (conftest)
from kubeschema.validate import CRD_DIR, crd_versions, documents, validate, validate_path

SAMPLES = sorted((CRD_DIR / "samples").rglob("*.yaml"))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_official_sample_is_valid(sample):
    assert validate_path(sample) == []


def test_every_crd_keyword_and_cel_rule_is_understood():
    kinds = {kind for _, kind in crd_versions()}
    assert {"RayJob", "RayCluster", "PyTorchJob", "SparkApplication", "DaskJob", "DaskCluster", "JobSet"} <= kinds
    for (_, kind), versions in crd_versions().items():
        for name, entry in versions.items():
            schema = entry["schema"]["openAPIV3Schema"]
            assert structural.unsupported_keywords(schema) == [], f"{kind} {name}"


def rayjob() -> dict:
    (doc,) = [
        d for d in documents((CRD_DIR / "samples/kuberay/ray-job.sample.yaml").read_text()) if d["kind"] == "RayJob"
    ]
    return doc


def test_an_unknown_field_is_an_error_not_pruned():
    job = rayjob()
    job["spec"]["entrypont"] = "python x.py"
    (problem,) = validate(job)
    assert problem.startswith("spec.entrypont: unknown field")


def test_a_wrong_type_names_the_field_and_the_type():
    job = rayjob()
    job["spec"]["shutdownAfterJobFinishes"] = "yes"
    assert validate(job) == ["spec.shutdownAfterJobFinishes: 'yes' is not of type boolean"]


def test_a_fractional_quantity_in_a_custom_resource_is_rejected():
    job = rayjob()
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["resources"] = {"limits": {"cpu": 0.5}}
    problems = validate(job)
    assert any("limits.cpu: 0.5 must be an integer or a string" in p for p in problems), problems


def test_a_cel_rule_of_the_crd_is_enforced():
    job = rayjob()
    job["spec"]["deletionStrategy"] = {"onSuccess": {"policy": "DeleteCluster"}, "deletionRules": []}
    problems = validate(job)
    assert any("deletionRules" in p for p in problems), problems


def test_a_repeated_key_in_a_map_list_is_rejected():
    job = rayjob()
    container = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    problems = validate(job)
    assert any("env[1]: duplicate entry (name='A')" in p for p in problems), problems


def test_names_follow_each_kinds_rules():
    job = rayjob()
    job["metadata"]["name"] = "a" * 48
    assert "at most 47 characters" in validate(job)[0]
    job["metadata"]["name"] = "9lives"
    assert validate(job)[0].startswith("metadata.name: '9lives' is not a valid RayJob name")


def test_built_in_kinds_use_kubernetes_schemas():
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "ok", "labels": {"bad key!": "x"}},
        "spec": {
            "backofLimit": 3,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "lots"}}}],
                }
            },
        },
    }
    problems = validate(job)
    assert any("backofLimit" in p and "unknown field" in p for p in problems), problems
    assert any(p.startswith("metadata.labels.bad key!: invalid key") for p in problems), problems
    assert any("limits.memory: 'lots' is not a Kubernetes quantity" in p for p in problems), problems
    fixed = copy.deepcopy(job)
    fixed["spec"]["backoffLimit"] = fixed["spec"].pop("backofLimit")
    fixed["metadata"]["labels"] = {"good": "x"}
    fixed["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    assert validate(fixed) == []


def test_a_cronjob_time_zone_is_part_of_batch_v1():
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 2 * * *",
            "timeZone": "UTC",
            "jobTemplate": {
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}
            },
        },
    }
    assert validate(cron) == []
    cron["spec"]["timezone"] = cron["spec"].pop("timeZone")
    assert any("timezone" in p and "unknown field" in p for p in validate(cron))


def test_operator_admission_checks_apply_after_the_schema():
    (job,) = [d for d in documents((CRD_DIR / "samples/training-operator/simple.yaml").read_text())]
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["name"] = "trainer"
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    problems = validate(job)
    assert "spec.pytorchReplicaSpecs.Master.template.spec.containers: one container must be named 'pytorch'" in problems
    assert "spec.pytorchReplicaSpecs.Master.replicas: a Master has exactly 1 replica, not 2" in problems


def test_an_unknown_kind_or_version_says_what_is_known():
    assert (
        "neither built into Kubernetes"
        in validate({"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "a"}})[0]
    )
    job = rayjob()
    job["apiVersion"] = "ray.io/v9"
    assert validate(job) == ["apiVersion: RayJob is not served as ray.io/v9 (served: ray.io/v1, ray.io/v1alpha1)"]
