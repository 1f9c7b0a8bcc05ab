"""A Ray task: squares computed by Ray remote functions and an actor keeps a running total.

Runs locally on a real Ray runtime (flyteplugins-ray):

    flyte run examples/ray_squares.py sum_of_squares --n 20

and renders as a KubeRay RayJob:

    flyte render examples/ray_squares.py ray_squares
"""

from __future__ import annotations

import ray

import flyte
from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig


@ray.remote
def square(x: int) -> int:
    return x * x


@ray.remote
class Total:
    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int) -> int:
        self.value += n
        return self.value


ray_env = flyte.TaskEnvironment(
    name="ray_squares",
    plugin_config=RayJobConfig(
        head_node_config=HeadNodeConfig(ray_start_params={"log-color": "True"}),
        worker_node_config=[WorkerNodeConfig(group_name="ray-workers", replicas=2)],
        shutdown_after_job_finishes=True,
        ttl_seconds_after_finished=300,
    ),
    image=flyte.Image.from_debian_base(name="ray-squares").with_pip_packages("ray[default]"),
    resources=flyte.Resources(cpu=2, memory="2Gi"),
)


@ray_env.task
async def sum_of_squares(n: int = 10) -> int:
    """The sum of the first n squares, computed on Ray."""
    total = Total.remote()
    for value in ray.get([square.remote(i) for i in range(n)]):
        last = ray.get(total.add.remote(value))
    return last if n else 0


if __name__ == "__main__":
    flyte.init()
    print(flyte.run(sum_of_squares, n=20).outputs()[0])
