"""What Ray workers print reaches the attempt's log (through Ray's log_to_driver), and the
attempt records the Ray plugin as where it ran."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import ray

import flyte
from flyte.runtime import logs
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
    total = sum(ray.get([shout.remote(i) for i in range(3)]))
    # Ray forwards worker output asynchronously (its log monitor tails the workers' files):
    # wait, while the attempt is still open, until the lines have come through to its log.
    path = logs.current().path
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = Path(path).read_text() if os.path.exists(path) else ""
        if all(f"worker says {w}" in text for w in WORDS):
            break
        await asyncio.sleep(0.1)
    return total


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
    # the next attempt on the same (warm or restarted) Ray runtime gets its own workers' lines
    flyte.with_runcontext(name="rraylog2").run(fan)
    with st.reader() as conn:
        second = conn.execute("SELECT log_path FROM attempts WHERE run='rraylog2' AND action='a0'").fetchone()[0]
    with open(second) as f:
        text = f.read()
    assert all(f"worker says {word}" in text for word in WORDS)
