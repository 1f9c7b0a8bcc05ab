"""The rendered JobSet's container command, run as JobSet would run it, one process per pod:
the JobSet environment set by hand as the JobSet controller, the downward API and Kubernetes
set it (there is no kubelet here). Each pod is one node: its workers meet the other pods'
through node 0 (``MASTER_ADDR``; here 127.0.0.1, since no JobSet DNS exists on this machine),
exactly the pod holding rank 0 writes the task's outputs, and a failing rank fails its pod
with the exit code the rendered failure policy reads."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flyte.render.context import RenderContext, RenderSettings
from flyte.render.render import render_task

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-v4lue"
CODE = """
import os
import flyte
from flyte.clustered import ClusteredTaskEnvironment, ClusterFailurePolicy, JaxRun, TorchRun

static = ClusteredTaskEnvironment(
    name="pods_static", replicas=2, nproc_per_node=2, env_vars={"STAGE": "pods"},
    secrets=[flyte.Secret("hf-token", as_env_var="HF_TOKEN")],
)


@static.task
def gather(offset: int) -> dict:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    ctx = flyte.ctx()
    t = torch.tensor([dist.get_rank() + offset])
    got = [torch.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(got, t)
    place = [ctx.rank, ctx.node_rank, ctx.local_rank, os.environ["STAGE"], os.environ["HF_TOKEN"] == "SECRET"]
    places = [None] * dist.get_world_size()
    dist.all_gather_object(places, place)
    dist.destroy_process_group()
    return {"gathered": [int(x) for x in got], "places": places, "world": ctx.world_size, "nnodes": ctx.nnodes}


c10d = ClusteredTaskEnvironment(
    name="pods_c10d", replicas=2, nproc_per_node=1, runtime=TorchRun(rdzv_backend="c10d"),
    failure_policy=ClusterFailurePolicy(max_restarts=1),
)


@c10d.task
def restarted() -> dict:
    ctx = flyte.ctx()
    return {"restart_attempt": ctx.restart_attempt, "world": ctx.world_size, "rank": ctx.rank}


jax_env = ClusteredTaskEnvironment(name="pods_jax", replicas=2, nproc_per_node=1, runtime=JaxRun())


@jax_env.task
def fails(kind: str) -> int:
    rank = flyte.ctx().rank
    if rank == 1 and kind == "fatal":
        raise flyte.errors.NonRecoverableError("bad input on rank 1")
    if rank == 1 and kind == "error":
        raise ValueError("boom on rank 1")
    return rank
""".replace("SECRET", SECRET)


@pytest.fixture
def pod_tasks(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "clustered_pod_tasks.py").write_text(CODE)
    sys.path.insert(0, str(code))
    try:
        import clustered_pod_tasks as pod_tasks
    finally:
        sys.path.remove(str(code))
    yield pod_tasks
    sys.modules.pop("clustered_pod_tasks", None)


def run_pods(task, inputs: dict, tmp_path: Path, restart_count: int = 0) -> tuple[list[tuple[int, str]], Path]:
    """Render ``task``, start its container command once per pod with the JobSet env; the
    pods' (exit code, stdout + stderr) and where the outputs go."""
    ctx = RenderContext(settings=RenderSettings(storage=str(tmp_path / "bucket")), inputs=inputs)
    (jobset,) = render_task(task, ctx)
    (rjob,) = jobset["spec"]["replicatedJobs"]
    job = rjob["template"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(tmp_path / "code")}
    env.update({e["name"]: e["value"] for e in container["env"] if "value" in e})
    for e in container["env"]:  # what Kubernetes makes of the references
        ref = e.get("valueFrom", {})
        if "secretKeyRef" in ref:
            env[e["name"]] = SECRET
        elif ref.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[e["name"]] = "default"
        elif "jobset-name" in ref.get("fieldRef", {}).get("fieldPath", ""):
            env[e["name"]] = jobset["metadata"]["name"]
        elif "restart-attempt" in ref.get("fieldRef", {}).get("fieldPath", ""):
            env[e["name"]] = str(restart_count)
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # no JobSet DNS here
    command = [sys.executable if c == "python" else c for c in container["command"]]
    pods = [
        subprocess.Popen(
            command,
            env={**env, "JOB_COMPLETION_INDEX": str(index)},
            cwd=tmp_path / "code",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(job["completions"])
    ]
    return [(p.wait(timeout=600), p.stdout.read()) for p in pods], Path(env["FLYTE_OUTPUTS_URI"])


def test_torchrun_pods_train_together_and_the_pod_with_rank_0_writes_the_outputs(pod_tasks, tmp_path):
    pods, outputs = run_pods(pod_tasks.gather, {"offset": 100}, tmp_path)
    assert [code for code, _ in pods] == [0, 0], pods
    result = json.loads(outputs.read_text())
    assert result["gathered"] == [100, 101, 102, 103]  # four ranks over two pods
    assert (result["world"], result["nnodes"]) == (4, 2)
    # [rank, node, local rank, env var, secret]: NODE_RANK is each pod's JOB_COMPLETION_INDEX
    assert result["places"] == [
        [0, 0, 0, "pods", True],
        [1, 0, 1, "pods", True],
        [2, 1, 0, "pods", True],
        [3, 1, 1, "pods", True],
    ]
    assert "node 1 of 2" in pods[1][1] and "does not hold the outputs" in pods[1][1]
    assert "does not hold the outputs" not in pods[0][1]
    assert all(SECRET not in log for _, log in pods)  # the secret reached the workers, never a log


def test_c10d_pods_meet_again_after_a_jobset_restart_and_count_it_within_the_attempt(pod_tasks, tmp_path):
    # JobSet's 4th restart with failure_policy.max_restarts=1: attempt 2 (3 // 2), its restart 1
    pods, outputs = run_pods(pod_tasks.restarted, {}, tmp_path, restart_count=3)
    assert [code for code, _ in pods] == [0, 0], pods
    assert json.loads(outputs.read_text()) == {"restart_attempt": 1, "world": 2, "rank": 0}
    assert sum("does not hold the outputs" in log for _, log in pods) == 1  # c10d may put rank 0 anywhere


def test_jax_pods_run_one_process_each(pod_tasks, tmp_path):
    pods, outputs = run_pods(pod_tasks.fails, {"kind": "none"}, tmp_path)
    assert [code for code, _ in pods] == [0, 0], pods
    assert json.loads(outputs.read_text()) == 0


@pytest.mark.parametrize(
    ("kind", "code", "words"), [("error", 1, "ValueError: boom on rank 1"), ("fatal", 3, "bad input on rank 1")]
)
def test_a_failing_rank_fails_its_pod_with_the_exit_code_the_failure_policy_reads(
    pod_tasks, tmp_path, kind, code, words
):
    from flyte.clustered._render import NON_RECOVERABLE_EXIT

    pods, _ = run_pods(pod_tasks.fails, {"kind": kind}, tmp_path)
    assert pods[1][0] == code, pods[1][1]
    assert words in pods[1][1]
    assert pods[0][0] == 0  # node 0 finished its own work; JobSet restarts or fails the whole set
    if kind == "fatal":
        assert code == NON_RECOVERABLE_EXIT  # the rendered podFailurePolicy's exit code
