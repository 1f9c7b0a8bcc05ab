"""What Ray workers print reaches the attempt's log (through Ray's log_to_driver), and the
attempt records the Ray plugin as where it ran."""

from __future__ import annotations

import pytest
import ray

import flyte
from flyte.runtime import store as st
from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

pytestmark = pytest.mark.slow

logged_env = flyte.TaskEnvironment(
    name="ray_logged",
    plugin_config=RayJobConfig(
        head_node_config=HeadNodeConfig(), worker_node_config=[WorkerNodeConfig(group_name="w", replicas=1)]
    ),
)


WORDS = ("alpha", "bravo", "charlie")  # not numbers: Ray folds lines that differ only in digits


@ray.remote
def shout(i: int) -> int:
    print(f"worker says {WORDS[i]}")
    return i


@logged_env.task
async def fan() -> int:
    print("driver line")
    return sum(ray.get([shout.remote(i) for i in range(3)]))


def test_ray_workers_output_is_in_the_attempts_log():
    flyte.init()
    flyte.with_runcontext(name="rraylog").run(fan)
    with st.reader() as conn:
        row = conn.execute("SELECT worker, log_path FROM attempts WHERE run='rraylog' AND action='a0'").fetchone()
    assert row["worker"].startswith("RayJobConfig plugin (")
    with open(row["log_path"]) as f:
        log = f.read()
    assert "driver line" in log
    for word in WORDS:
        assert f"worker says {word}" in log
