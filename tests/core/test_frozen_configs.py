"""Configs and specs are values: deeply immutable, hashable, equal when their contents are."""

from __future__ import annotations

import pickle

import pytest

import flyte
from flyte.frozen import FrozenDict, freeze, thaw
from flyte.spec import TaskSpec


def plugin_configs() -> dict[str, object]:
    """One config of every in-tree plugin, each using its dict-valued fields."""
    from flyte_isolated import Isolated

    from flyteplugins.pytorch.task import Elastic, RunPolicy
    from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

    ray = RayJobConfig(
        worker_node_config=[WorkerNodeConfig(group_name="workers", replicas=2, ray_start_params={"num-cpus": 2})],
        head_node_config=HeadNodeConfig(ray_start_params={"dashboard-host": "0.0.0.0", "block": True}),
        runtime_env={"pip": ["requests"], "env_vars": {"A": "1"}},
        autoscaler_options={"idle_timeout_seconds": 60, "resources": {"limits": {"cpu": "1"}}},
    )
    torch = Elastic(nnodes="1:2", nproc_per_node=2, rdzv_configs={"timeout": 30}, run_policy=RunPolicy("all"))
    return {"ray": ray, "pytorch": torch, "isolated": Isolated(env={"OMP_NUM_THREADS": "1"})}


@pytest.mark.parametrize("plugin", ["ray", "pytorch", "isolated"])
def test_every_in_tree_plugins_spec_hashes(plugin):
    config = plugin_configs()[plugin]
    env = flyte.TaskEnvironment(name=f"frozen_{plugin}", plugin_config=config, env_vars={"K": "v"})

    @env.task(triggers=[flyte.Trigger("nightly", flyte.Cron("0 2 * * *"), inputs={"items": [1, 2]})])
    def work(items: list[int] = [1, 2, 3]) -> int:  # noqa: B006 - a mutable default is the user's to write
        return len(items)

    spec = work.spec
    assert hash(spec) == hash(work.spec) and hash(config) == hash(plugin_configs()[plugin])
    assert {spec: "usable as a key"}[work.spec] == "usable as a key"
    again = TaskSpec.from_dict(spec.to_dict())
    assert again == spec and hash(again) == hash(spec)
    assert pickle.loads(pickle.dumps(config)) == config
    assert work.func() == 3  # the user's default reaches the task as written: a list


def test_dict_fields_accept_dicts_and_cannot_change_in_place():
    ray = plugin_configs()["ray"]
    assert ray.runtime_env == {"pip": ["requests"], "env_vars": {"A": "1"}}  # equal to the dict given
    assert ray.runtime_env["pip"] == ("requests",)
    with pytest.raises(TypeError):
        ray.runtime_env["pip"] = ["numpy"]  # type: ignore[index]
    with pytest.raises(TypeError):
        ray.autoscaler_options["resources"]["limits"]["cpu"] = "2"  # type: ignore[index]
    torch = plugin_configs()["pytorch"]
    with pytest.raises(AttributeError):
        torch.rdzv_configs.update(timeout=1)  # type: ignore[attr-defined]
    env = flyte.TaskEnvironment(name="frozen_env_vars", env_vars={"A": "1"})

    @env.task
    def noop() -> None: ...

    with pytest.raises(TypeError):
        noop.spec.env_vars["A"] = "2"  # type: ignore[index]


def test_a_callers_dict_changing_later_does_not_change_the_config():
    from flyteplugins.ray.task import RayJobConfig

    runtime_env = {"env_vars": {"A": "1"}}
    config = RayJobConfig(worker_node_config=[], runtime_env=runtime_env)
    runtime_env["env_vars"]["A"] = "changed"
    assert config.runtime_env["env_vars"]["A"] == "1"


def test_freeze_and_thaw_round_trip():
    data = {"a": [1, {"b": {2, 3}}], "c": ("x",)}
    frozen = freeze(data)
    assert (
        isinstance(frozen, FrozenDict) and isinstance(frozen["a"], tuple) and isinstance(frozen["a"][1]["b"], frozenset)
    )
    assert hash(frozen) == hash(freeze(data))
    assert thaw(frozen) == {"a": [1, {"b": [2, 3]}], "c": ["x"]}
    assert (
        FrozenDict(a=1) == {"a": 1} and FrozenDict(a=1) != {"a": 2} and repr(FrozenDict(a=1)) == "FrozenDict({'a': 1})"
    )
