"""A reusable environment shares one Ray cluster between its tasks, as the reference plugin has
it: one replica running one task at a time, stopped by the pool's idle_ttl. Other settings are
refused when the task is defined, with the reference's error class (a RuntimeUserError with
code BadConfiguration) and a message naming each setting and what is accepted."""

from __future__ import annotations

import pytest

import flyte
from flyte.errors import PluginConfigurationError, RuntimeUserError
from flyteplugins.ray import RayJobConfig, WorkerNodeConfig

WORKERS = [WorkerNodeConfig(group_name="ray-workers", replicas=1)]


async def job() -> int:
    return 1


@pytest.mark.parametrize(
    ("policy", "config", "needles"),
    [
        (flyte.ReusePolicy(replicas=2), {}, ("replicas=2", "ReusePolicy(replicas=1)")),
        (flyte.ReusePolicy(replicas=(1, 3)), {}, ("replicas=(1, 3)",)),
        (flyte.ReusePolicy(replicas=1, concurrency=2), {}, ("concurrency=2", "concurrency=1")),
        (
            flyte.ReusePolicy(replicas=1),
            {"shutdown_after_job_finishes": True},
            ("shutdown_after_job_finishes=True", "idle_ttl"),
        ),
        (
            flyte.ReusePolicy(replicas=1),
            {"ttl_seconds_after_finished": 60},
            ("ttl_seconds_after_finished=60", "idle_ttl"),
        ),
    ],
)
def test_a_reusable_ray_task_is_one_shared_cluster(policy, config, needles):
    env = flyte.TaskEnvironment(
        name="ray_reuse_refused", plugin_config=RayJobConfig(worker_node_config=WORKERS, **config), reusable=policy
    )
    with pytest.raises(RuntimeUserError) as refused:
        env.task(job)
    assert isinstance(refused.value, PluginConfigurationError) and refused.value.code == "BadConfiguration"
    for needle in ("ray_reuse_refused.job", *needles):
        assert needle in str(refused.value)


def test_one_replica_one_task_at_a_time_is_accepted_and_plain_ray_tasks_are_unchanged():
    shared = flyte.TaskEnvironment(
        name="ray_reuse_ok",
        plugin_config=RayJobConfig(worker_node_config=WORKERS),
        reusable=flyte.ReusePolicy(replicas=1),
    )
    assert shared.task(job).spec.reusable.max_replicas == 1
    plain = flyte.TaskEnvironment(
        name="ray_plain", plugin_config=RayJobConfig(worker_node_config=WORKERS, shutdown_after_job_finishes=True)
    )
    assert plain.task(job).spec.plugin_config.shutdown_after_job_finishes


def test_worker_node_config_is_required_as_on_the_reference_plugin():
    with pytest.raises(TypeError, match="worker_node_config"):
        RayJobConfig()
    assert RayJobConfig(worker_node_config=[]).worker_node_config == ()
