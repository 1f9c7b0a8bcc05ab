"""Ray tasks run on a real local Ray runtime (no mocks)."""

from __future__ import annotations

import asyncio
import os

import pytest
import ray

import flyte
from flyte.runtime import proctree
from flyteplugins.ray import _runner
from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

pytestmark = pytest.mark.slow

CONFIG = RayJobConfig(
    head_node_config=HeadNodeConfig(ray_start_params={"log-color": "True"}),
    worker_node_config=[WorkerNodeConfig(group_name="ray-workers", replicas=2)],
    runtime_env={"env_vars": {"FROM_RUNTIME_ENV": "yes"}},
)

ray_env = flyte.TaskEnvironment(
    name="ray_env", plugin_config=CONFIG, resources=flyte.Resources(cpu=2, memory="2Gi"), env_vars={"TASK_LEVEL": "set"}
)
plain = flyte.TaskEnvironment(name="plain")
ray_env.add_dependency(plain)


@ray.remote
def square(x: int) -> int:
    return x * x


@ray.remote
def env_in_worker() -> list[str | None]:
    return [os.environ.get("FROM_RUNTIME_ENV"), os.environ.get("TASK_LEVEL")]


@ray.remote
class Counter:
    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int) -> int:
        self.value += n
        return self.value


@ray.remote
def explode(x: int) -> int:
    raise ValueError(f"remote failure on {x}")


@plain.task
async def plus_one(x: int) -> int:
    return x + 1


@ray_env.task
async def everything(n: int = 5) -> dict:
    squares = ray.get([square.remote(i) for i in range(n)])
    counter = Counter.remote()
    total = [ray.get(counter.add.remote(i)) for i in range(n)][-1]
    nested = await plus_one(41)  # a plain task awaited inside a Ray task
    return {
        "squares": squares,
        "total": total,
        "nested": nested,
        "worker_env": ray.get(env_in_worker.remote()),
        "cpus": ray.cluster_resources().get("CPU"),
    }


@ray_env.task
async def fails() -> int:
    return ray.get(explode.remote(3))


@pytest.fixture(autouse=True)
def local():
    flyte.init()
    yield
    assert not ray.is_initialized(), "a Ray runtime outlived its task"


def test_remote_functions_actors_nested_tasks_and_env():
    out = flyte.run(everything, n=5).outputs()[0]
    assert out["squares"] == [0, 1, 4, 9, 16]
    assert out["total"] == 10
    assert out["nested"] == 42
    assert out["worker_env"] == ["yes", "set"]
    assert out["cpus"] == 2.0  # sized from the task's resources


def test_a_failing_remote_function_fails_the_task_with_the_remote_traceback():
    with pytest.raises(ValueError, match="remote failure on 3") as info:
        flyte.run(fails)
    assert "explode" in str(info.value)  # Ray's error carries the remote traceback


def test_override_changes_the_runtime_size():
    out = flyte.run(everything.override(resources=flyte.Resources(cpu=1)), n=2).outputs()[0]
    assert out["squares"] == [0, 1] and out["cpus"] == 1.0


def test_runtime_env_keys_that_install_software_are_reported_not_dropped_silently():
    _runner._reported.clear()
    env = _runner._local_runtime_env({"pip": ["numpy"], "env_vars": {"A": "1"}, "working_dir": "."}, {"T": "x"})
    assert env == {"env_vars": {"T": "x", "A": "1"}, "working_dir": "."}
    with pytest.warns(_runner.RayRuntimeWarning, match="pip"):
        _runner._reported.clear()
        _runner._local_runtime_env({"pip": ["numpy"]}, {})


def test_a_runtime_env_warning_names_the_task_and_points_at_its_definition():
    def body() -> None:
        pass

    _runner._reported.clear()
    with pytest.warns(_runner.RayRuntimeWarning) as caught:
        _runner._local_runtime_env({"pip": ["numpy"]}, {}, "ray_env.body", body)
    (warning,) = caught
    assert str(warning.message).startswith("ray_env.body: RayJobConfig.runtime_env['pip'] is not applied")
    assert (warning.filename, warning.lineno) == (__file__, body.__code__.co_firstlineno)


def test_two_ray_tasks_in_one_run_do_not_collide():
    @ray_env.task
    async def both() -> list[list[int]]:
        return list(await asyncio.gather(small(3), small(4)))

    assert flyte.run(both).outputs() == [[0, 1, 4], [0, 1, 4, 9]]


@ray_env.task
async def small(n: int) -> list[int]:
    await asyncio.sleep(0.2)
    return ray.get([square.remote(i) for i in range(n)])


pool = flyte.TaskEnvironment(
    name="ray_pool",
    plugin_config=RayJobConfig(worker_node_config=[WorkerNodeConfig(group_name="w", replicas=1)]),
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=2),
    resources=flyte.Resources(cpu=1),
)


@pool.task
async def pooled(x: int) -> tuple[int, int, int, list[int]]:
    # Runs in a worker of the environment's pool, where SharedEngine keeps Ray warm.
    helpers = [pid for tid in os.listdir("/proc/self/task") for pid in proctree.thread_children(int(tid))]
    return ray.get(square.remote(x)), os.getpid(), _runner.runtime.starts, helpers


def test_a_reusable_environment_keeps_one_runtime_for_its_tasks_in_its_pool_worker():
    value, worker, starts, helpers = flyte.run(pooled, 3).outputs()
    assert value == 9 and worker != os.getpid() and starts == 1 and helpers
    value, again, starts, _ = flyte.run(pooled, 4).outputs()
    assert value == 16 and again == worker
    assert starts == 1  # the second task found the runtime warm in the same worker
    assert not ray.is_initialized()  # nothing of it in the driver
    # idle_ttl=2: the pool stops its worker, which stops Ray on its way out.
    gone = asyncio.run(_wait_for_exit([worker, *helpers], 60))
    assert gone, "the idle pool's worker or its Ray processes are still running"


async def _wait_for_exit(pids: list[int], seconds: float) -> bool:
    for _ in range(int(seconds * 10)):
        if not any(_alive(pid) for pid in pids):
            return True
        await asyncio.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
