"""``flyte.trace`` inside a reusable environment's task: the steps are recorded in the run as
they are for a task in the controller's process, though the body runs in a pool worker.

The usage: an agent loop in a reusable environment (kept warm for its many model calls) whose
helpers are traced, some inside ``flyte.group`` blocks, fanned out over several topics.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import flyte
from flyte.runtime import secret_store
from flyte.runtime import store as st
from flyte.runtime.pool import registry as pools
from waiting import wait_for

warm = flyte.TaskEnvironment(name="trace_pool", reusable=flyte.ReusePolicy(replicas=2, concurrency=4, idle_ttl=60))


@pytest.fixture(autouse=True)
def _local():
    flyte.init()
    yield
    pools.shutdown_all()


@flyte.trace
async def ask_model(prompt: str, system: str = "writer") -> str:
    await asyncio.sleep(0)
    if "unreachable" in prompt:
        raise ConnectionError(f"model endpoint refused {prompt!r}")
    return f"[{system}] answer to {prompt}"


@flyte.trace
def score(text: str) -> int:
    return len(text) % 10


@warm.task
async def refine(topic: str, rounds: int) -> dict:
    draft = await ask_model(topic)
    for i in range(rounds):
        with flyte.group(f"round_{i + 1}"):
            draft = await ask_model(f"revise: {draft}", system="editor")
    return {"draft": draft, "score": score(draft), "pid": os.getpid()}


@warm.task
async def flaky(topic: str) -> str:
    try:
        return await ask_model(f"unreachable {topic}")
    except ConnectionError:
        return await ask_model(topic)


@warm.task
async def batch(topics: list[str]) -> list[int]:
    return [r["score"] for r in await asyncio.gather(*(refine(t, 1) for t in topics))]


@warm.task
def sync_refine(topic: str) -> int:
    # A sync body runs on a thread of its own in the worker: its traces are recorded too.
    return score(topic) + score(topic + "!")


guarded = flyte.TaskEnvironment(
    name="trace_pool_secret",
    secrets=flyte.Secret(key="model_key", as_env_var="MODEL_KEY"),
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=60),
)


@flyte.trace
async def authenticate(key: str) -> str:
    return f"session for {key}"


@guarded.task
async def with_key() -> int:
    return len(await authenticate(os.environ["MODEL_KEY"]))


@flyte.trace
async def load_model(marker: str) -> int:
    if not os.path.exists(marker):  # the first time, the worker dies inside the traced call
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return os.getpid()


@warm.task(retries=1)
async def dies_in_a_trace(marker: str) -> int:
    return await load_model(marker)


@flyte.trace
async def wait_for_file(marker: str) -> str:
    while not os.path.exists(marker):
        await asyncio.sleep(0.05)
    return "seen"


@warm.task
async def leaves_a_trace_running(marker: str) -> int:
    # Started and not awaited: it ends after the task returned (the worker's loop keeps it).
    background.append(asyncio.ensure_future(wait_for_file(marker)))
    await asyncio.sleep(0)  # (it starts)
    return os.getpid()


background: list[asyncio.Future] = []


def _steps(run) -> list:
    return [a for a in run.actions() if a.task.startswith("trace:")]


def test_traced_calls_in_a_pool_worker_are_steps_of_the_calling_action():
    run = flyte.run(refine, "rust", 2)
    out = run.outputs()[0]
    assert out["pid"] != os.getpid()  # the body did run in a worker
    assert out["draft"].startswith("[editor] answer to revise: [editor]")
    task_action = run.actions()[0]
    steps = _steps(run)
    assert [(s.short_name, s.group, s.phase) for s in steps] == [
        ("ask_model", None, "SUCCEEDED"),
        ("ask_model", "round_1", "SUCCEEDED"),
        ("ask_model", "round_2", "SUCCEEDED"),
        ("score", None, "SUCCEEDED"),
    ]
    assert all(s.parent == task_action.id for s in steps)
    assert {s.task for s in steps} == {f"trace:{__name__}.ask_model", f"trace:{__name__}.score"}
    # Their outputs and timings are recorded as in the controller's process.
    assert json.loads(steps[0].outputs) == "[writer] answer to rust"
    assert json.loads(steps[3].outputs) == out["score"]
    assert all(task_action.started_at <= s.started_at <= s.ended_at <= task_action.ended_at for s in steps)
    # Step ids are the run's own action ids, after the task's.
    assert len({s.id for s in [task_action, *steps]}) == len(steps) + 1


def test_a_failed_trace_is_recorded_failed_and_the_task_goes_on():
    run = flyte.run(flaky, "wasm")
    assert run.outputs()[0] == "[writer] answer to wasm"
    steps = _steps(run)
    assert [(s.short_name, s.phase) for s in steps] == [("ask_model", "FAILED"), ("ask_model", "SUCCEEDED")]
    assert "ConnectionError: model endpoint refused 'unreachable wasm'" in steps[0].error


def test_traces_of_concurrent_tasks_on_one_worker_keep_their_own_parents():
    run = flyte.run(batch, ["a", "bb", "ccc", "dddd"])
    assert len(run.outputs()[0]) == 4
    actions = run.actions()
    refines = {a.id for a in actions if a.task == "trace_pool.refine"}
    assert len(refines) == 4
    steps = _steps(run)
    assert len(steps) == 4 * 3  # a draft, one round, a score each
    by_parent: dict[str, list[str]] = {}
    for s in steps:
        by_parent.setdefault(s.parent, []).append(s.short_name)
    assert set(by_parent) == refines
    assert all(names == ["ask_model", "ask_model", "score"] for names in by_parent.values())
    assert all(s.phase == "SUCCEEDED" and s.ended_at is not None for s in steps)


def test_a_sync_body_in_a_worker_records_its_traces():
    run = flyte.run(sync_refine, "abc")
    assert run.outputs()[0] == 3 + 4
    assert [(s.short_name, s.phase) for s in _steps(run)] == [("score", "SUCCEEDED"), ("score", "SUCCEEDED")]


def test_a_secret_passing_through_a_trace_in_a_worker_is_masked_in_the_record():
    value = "mk-7f3e-SECRET-pool"
    secret_store.create("model_key", value.encode())
    run = flyte.run(with_key)
    assert run.outputs()[0] == len(f"session for {value}")
    (step,) = _steps(run)
    assert step.outputs == '"session for ***"'
    with st.reader() as conn:
        rows = conn.execute("SELECT inputs, outputs FROM actions WHERE run=?", (run.name,)).fetchall()
    assert any(row["inputs"] == '{"key":"***"}' for row in rows)
    assert all(value not in (row["inputs"] or "") + (row["outputs"] or "") for row in rows)


def test_a_trace_whose_worker_dies_is_recorded_aborted_and_the_retry_records_its_own(tmp_path: Path):
    marker = tmp_path / "loaded"
    run = flyte.run(dies_in_a_trace, str(marker))
    assert run.outputs()[0] != int(marker.read_text())  # the retry ran on another worker
    steps = _steps(run)
    assert [(s.short_name, s.phase) for s in steps] == [("load_model", "ABORTED"), ("load_model", "SUCCEEDED")]
    assert "WorkerDiedError" in steps[0].error and f"worker process {marker.read_text()}" in steps[0].error
    assert steps[0].ended_at is not None


def test_a_trace_that_ends_after_its_task_returned_is_recorded_when_it_ends(tmp_path: Path):
    """As in the controller's process: the step is recorded when it ends, not left RUNNING
    because its job was over (and ABORTED if the worker goes first)."""
    marker = tmp_path / "go"
    run = flyte.run(leaves_a_trace_running, str(marker))
    assert run.outputs()[0] != os.getpid()
    ((step,),) = [_steps(run)]
    assert step.phase == "RUNNING"
    marker.write_text("")
    wait_for(lambda: _steps(run)[0].phase == "SUCCEEDED", timeout=30, what="the trace's end recorded")
    assert _steps(run)[0].outputs == '"seen"'
    second = flyte.run(leaves_a_trace_running, str(tmp_path / "never"))
    pools.shutdown_all()  # the worker ends with the trace still running
    wait_for(lambda: _steps(second)[0].phase == "ABORTED", timeout=30, what="the orphaned trace aborted")
    assert "WorkerDiedError" in _steps(second)[0].error


SCRIPT = """
import flyte

env = flyte.TaskEnvironment(name="script_pool", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=30))


@flyte.trace
async def helper(x: int) -> int:
    return x + 1


@env.task
async def main(x: int) -> int:
    return await helper(x)


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, 1)
    print("outputs", run.outputs()[0])
    print("steps", [a.task for a in run.actions() if a.task.startswith("trace:")])
"""


def test_a_scripts_trace_in_a_worker_is_named_as_in_the_script(tmp_path: Path):
    # The worker imports the script as __mp_main__; the step is named as the same trace in the
    # script's own process is (trace:__main__.helper).
    (tmp_path / "traced_script.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "traced_script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "outputs 2" in done.stdout
    assert "steps ['trace:__main__.helper']" in done.stdout
