"""flyte.clustered's configuration: names, defaults, validation, and the snapshot tasks carry."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

import flyte
from flyte.clustered import (
    ClusteredSettings,
    ClusteredTaskEnvironment,
    ClusterFailurePolicy,
    JaxRun,
    TorchRun,
)
from flyte.errors import ConfigurationError


def test_defaults_are_the_reference_sdks():
    env = ClusteredTaskEnvironment(name="train", replicas=2, nproc_per_node=4)
    assert isinstance(env, flyte.TaskEnvironment)
    assert (env.replicas, env.nproc_per_node) == (2, 4)
    assert env.runtime == TorchRun(rdzv_backend="static", max_restarts=0)
    assert env.interconnect == "tcp"
    assert env.failure_policy == ClusterFailurePolicy(max_restarts=0, restart_on_host_maintenance=False)
    assert env.ttl_seconds_after_finished is None


def test_every_task_carries_the_settings_snapshot_in_its_spec():
    env = ClusteredTaskEnvironment(
        name="train",
        replicas=3,
        nproc_per_node=2,
        runtime=TorchRun(rdzv_backend="c10d", max_restarts=2),
        failure_policy=ClusterFailurePolicy(max_restarts=1, restart_on_host_maintenance=True),
        ttl_seconds_after_finished=600,
        env_vars={"A": "1"},
    )

    @env.task
    def fit(steps: int) -> float:
        return 0.0

    config = fit.spec.plugin_config
    assert config == ClusteredSettings(
        replicas=3,
        nproc_per_node=2,
        runtime=TorchRun(rdzv_backend="c10d", max_restarts=2),
        interconnect="tcp",
        failure_policy=ClusterFailurePolicy(max_restarts=1, restart_on_host_maintenance=True),
        ttl_seconds_after_finished=600,
    )
    assert [f.name for f in attrs.fields(ClusteredSettings)] == [
        "replicas",
        "nproc_per_node",
        "runtime",
        "interconnect",
        "failure_policy",
        "ttl_seconds_after_finished",
    ]
    assert config.world_size == 6
    assert fit.spec.env_vars == {"A": "1"}
    # Through plain data and back (records, deploy), unchanged.
    assert flyte.TaskSpec.from_dict(fit.spec.to_dict()) == fit.spec


def test_override_reshapes_one_call_and_leaves_the_task_alone():
    env = ClusteredTaskEnvironment(name="train", replicas=2, nproc_per_node=1)

    @env.task
    def fit() -> int:
        return 0

    bigger = fit.override(plugin_config=attrs.evolve(fit.spec.plugin_config, replicas=4))
    assert bigger.spec.plugin_config.replicas == 4
    assert fit.spec.plugin_config.replicas == 2


def test_clone_with_keeps_the_clustered_fields():
    env = ClusteredTaskEnvironment(name="train", replicas=2, nproc_per_node=1, env_vars={"A": "1"})
    other = env.clone_with("train2", replicas=5)
    assert isinstance(other, ClusteredTaskEnvironment)
    assert (other.replicas, other.nproc_per_node, other.env_vars) == (5, 1, {"A": "1"})
    assert env.replicas == 2


def test_settings_are_frozen_and_hash():
    settings = ClusteredSettings(replicas=2, nproc_per_node=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.replicas = 3  # type: ignore[misc]
    assert hash(settings) == hash(ClusteredSettings(replicas=2, nproc_per_node=1))


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"replicas": 0, "nproc_per_node": 1}, ConfigurationError, ["replicas: 0", "an int >= 1"]),
        ({"replicas": 1, "nproc_per_node": 0}, ConfigurationError, ["nproc_per_node: 0", "an int >= 1"]),
        ({"replicas": "2", "nproc_per_node": 1}, TypeError, ["replicas", "int", "'2'"]),
        ({"replicas": True, "nproc_per_node": 1}, TypeError, ["replicas", "int"]),
        (
            {"replicas": 1, "nproc_per_node": 1, "interconnect": "rdma"},
            ConfigurationError,
            ["interconnect", "'rdma'", "'tcp'"],
        ),
        ({"replicas": 1, "nproc_per_node": 1, "runtime": "torchrun"}, TypeError, ["runtime", "TorchRun", "JaxRun"]),
        (
            {"replicas": 1, "nproc_per_node": 1, "failure_policy": {"max_restarts": 1}},
            TypeError,
            ["failure_policy", "ClusterFailurePolicy"],
        ),
        (
            {"replicas": 1, "nproc_per_node": 1, "ttl_seconds_after_finished": -1},
            ConfigurationError,
            ["ttl_seconds_after_finished: -1", ">= 0"],
        ),
        (
            {"replicas": 2, "nproc_per_node": 2, "runtime": JaxRun()},
            ConfigurationError,
            ["nproc_per_node: 2", "JaxRun", "local_device_ids"],
        ),
        (
            {"replicas": 1, "nproc_per_node": 2, "resources": flyte.Resources(gpu=1)},
            ConfigurationError,
            ["nproc_per_node: 2", "resources.gpu = 1"],
        ),
        (
            {"replicas": 1, "nproc_per_node": 4, "resources": flyte.Resources(gpu="A100:2")},
            ConfigurationError,
            ["nproc_per_node: 4", "resources.gpu = 2"],
        ),
        (
            {"replicas": 1, "nproc_per_node": 1, "reusable": flyte.ReusePolicy(replicas=2)},
            ConfigurationError,
            ["reusable", "started fresh"],
        ),
        (
            {"replicas": 1, "nproc_per_node": 1, "plugin_config": ClusteredSettings(replicas=1, nproc_per_node=1)},
            ConfigurationError,
            ["plugin_config", "replicas="],
        ),
    ],
)
def test_bad_environments_are_refused_with_the_parameter_value_and_what_is_accepted(kwargs, error, words):
    with pytest.raises(error) as info:
        ClusteredTaskEnvironment(name="train", **kwargs)
    for word in words:
        assert word in str(info.value)


def test_gpus_at_least_nproc_per_node_are_accepted():
    env = ClusteredTaskEnvironment(name="train", replicas=2, nproc_per_node=2, resources=flyte.Resources(gpu="A100:2"))
    assert env.resources.gpu == "A100:2"
    assert env.resources.device.quantity == 2
    ClusteredTaskEnvironment(name="jax", replicas=2, nproc_per_node=1, runtime=JaxRun())


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (
            lambda: TorchRun(rdzv_backend="etcd"),
            ConfigurationError,
            ["TorchRun.rdzv_backend: 'etcd'", "'static', 'c10d'"],
        ),
        (lambda: TorchRun(max_restarts=-1), ConfigurationError, ["TorchRun.max_restarts: -1", ">= 0"]),
        (lambda: ClusterFailurePolicy(max_restarts=-2), ConfigurationError, ["ClusterFailurePolicy.max_restarts: -2"]),
        (
            lambda: ClusterFailurePolicy(restart_on_host_maintenance="yes"),
            TypeError,
            ["restart_on_host_maintenance", "True or False"],
        ),
        (lambda: TorchRun("c10d"), TypeError, ["positional"]),
    ],
)
def test_bad_runtime_and_policy_values_are_refused(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_required_fields_are_required():
    with pytest.raises(TypeError, match="replicas"):
        ClusteredTaskEnvironment(name="train", nproc_per_node=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nproc_per_node"):
        ClusteredTaskEnvironment(name="train", replicas=1)  # type: ignore[call-arg]


def test_jax_initialize_outside_a_clustered_worker_says_where_to_call_it(monkeypatch):
    from flyte.clustered import jax_initialize

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match=r"RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set.*JaxRun"):
        jax_initialize()


def test_an_override_with_fewer_gpus_than_workers_fails_the_call_before_any_worker_starts(tmp_path):
    env = ClusteredTaskEnvironment(name="gpus", replicas=1, nproc_per_node=2, resources=flyte.Resources(gpu=2))

    @env.task
    def fit(folder: str) -> int:
        Path(folder, "started").write_text("yes")
        return 0

    flyte.init()
    with pytest.raises(ConfigurationError, match=r"nproc_per_node: 2 .*resources.gpu = 1"):
        flyte.run(fit.override(resources=flyte.Resources(gpu=1)), folder=str(tmp_path))
    assert not (tmp_path / "started").exists()
