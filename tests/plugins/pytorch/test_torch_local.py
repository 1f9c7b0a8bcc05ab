"""Elastic tasks run on real torch.distributed (gloo on CPU), in real worker processes."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import flyte
import flyte.errors
from flyteplugins.pytorch import WorkerFailedError
from flyteplugins.pytorch.task import Elastic

pytestmark = pytest.mark.slow

# monitor_interval=1: failures are noticed within a second (the default 3 is for clusters).
ONE_NODE_TWO_PROCS = Elastic(nnodes=1, nproc_per_node=2, max_restarts=0, monitor_interval=1)
TWO_NODES = Elastic(nnodes=2, nproc_per_node=1, max_restarts=0, monitor_interval=1)

torch_env = flyte.TaskEnvironment(
    name="torch_env", plugin_config=ONE_NODE_TWO_PROCS, env_vars={"TASK_LEVEL": "set"}, secrets="torch_token"
)

# A module global that cannot be pickled: the workers load this file and use the real one.
_GUARD = threading.Lock()

RANK_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK")


@torch_env.task
def all_reduce(offset: int) -> dict:
    import torch
    import torch.distributed as dist

    with _GUARD:
        dist.init_process_group("gloo")
    value = torch.tensor([float(dist.get_rank() + offset)])
    dist.all_reduce(value)
    seen = {
        "rank": dist.get_rank(),
        "world": dist.get_world_size(),
        "sum": value.item(),
        "env": {k: os.environ.get(k) for k in RANK_ENV},
        "task_env": os.environ.get("TASK_LEVEL"),
        "secret": os.environ.get("TORCH_TOKEN"),
    }
    ctx = flyte.ctx()  # every rank sees the task's context
    contexts = [None] * dist.get_world_size()
    dist.all_gather_object(
        contexts,
        {
            "run": ctx.action.run_name,
            "task": ctx.task_name,
            "attempt": ctx.attempt,
            "team": ctx.custom_context.get("team"),
        },
    )
    seen["contexts"] = contexts
    dist.destroy_process_group()
    return seen


@torch_env.task
def fails_on_rank_one() -> int:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    if dist.get_rank() == 1:
        raise KeyError("shard-7 is missing on rank 1")
    dist.barrier()  # rank 0 waits for its peer, which never comes
    return 0


@torch_env.task
def first_attempt_fails() -> int:
    import torch.distributed as dist

    if os.environ["TORCHELASTIC_RESTART_COUNT"] == "0" and os.environ["RANK"] == "1":
        raise RuntimeError("transient failure")
    dist.init_process_group("gloo")
    dist.barrier()
    dist.destroy_process_group()
    return int(os.environ["TORCHELASTIC_RESTART_COUNT"])


@torch_env.task
def resumes_after_a_restart() -> str | None:
    """Round 0 saves a checkpoint and fails; the restarted round loads what it saved."""
    checkpoint = flyte.ctx().checkpoint
    loaded = checkpoint.load_sync()
    if os.environ["TORCHELASTIC_RESTART_COUNT"] == "0":
        checkpoint.save_sync(b"progress of round 0")
        raise RuntimeError("lost the node after saving")
    return None if loaded is None else loaded.read_text()


@torch_env.task
def ranks_start() -> int:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    dist.barrier()
    return 0


@torch_env.task(timeout=8)
def rank_one_hangs(folder: str) -> int:
    import torch
    import torch.distributed as dist

    Path(folder, f"pid-{os.environ['RANK']}").write_text(json.dumps([os.getpid(), os.getppid()]))
    dist.init_process_group("gloo")
    if dist.get_rank() == 1:
        time.sleep(3600)
    dist.all_reduce(torch.ones(1))  # rank 0 blocks here
    return 0


@torch_env.task
def rank_one_is_killed() -> int:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    if dist.get_rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()
    return 0


@torch_env.task
def ddp_steps(steps: int) -> dict:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(100 + rank)  # every rank its own shard of data
    x = torch.randn(64, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()  # DDP all-reduces the gradients here
        optimizer.step()
        losses.append(loss.item())
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(weights) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, weights)
    same = all(torch.equal(gathered[0], w) for w in gathered)
    dist.destroy_process_group()
    return {"losses": losses, "replicas_identical": same}


@pytest.fixture
def token():
    from flyte.runtime import secret_store

    secret_store.create("torch_token", b"s3cr3t-value")


def test_two_processes_all_reduce_and_the_task_returns_rank_zeros_view(token):
    flyte.init()
    run = flyte.with_runcontext(custom_context={"team": "ml"}).run(all_reduce, offset=10)
    seen = run.outputs()[0]
    assert seen["rank"] == 0 and seen["world"] == 2
    # flyte.ctx() in each worker is the task's: its run, task, attempt and custom context
    expected = {"run": run.name, "task": all_reduce.name, "attempt": 1, "team": "ml"}
    assert seen["contexts"] == [expected, expected]
    assert seen["sum"] == 21.0  # (0 + 10) + (1 + 10): the input reached both ranks
    env = seen["env"]
    assert env["RANK"] == "0" and env["LOCAL_RANK"] == "0" and env["GROUP_RANK"] == "0"
    assert env["WORLD_SIZE"] == "2" and env["LOCAL_WORLD_SIZE"] == "2"
    assert env["MASTER_ADDR"] == "127.0.0.1" and int(env["MASTER_PORT"]) > 0
    assert seen["task_env"] == "set" and seen["secret"] == "s3cr3t-value"


def test_two_nodes_of_one_process_are_simulated_on_this_machine(token):
    flyte.init()
    seen = flyte.run(all_reduce.override(plugin_config=TWO_NODES), offset=1).outputs()[0]
    assert seen["world"] == 2 and seen["sum"] == 3.0
    assert seen["env"]["LOCAL_WORLD_SIZE"] == "1"  # one worker per node, two nodes


def test_a_failing_rank_fails_the_task_with_its_exception(token):
    flyte.init()
    with pytest.raises(KeyError) as info:
        flyte.run(fails_on_rank_one)
    text = str(info.value) + "".join(getattr(info.value, "__notes__", []))
    assert "shard-7 is missing on rank 1" in text
    assert "traceback on rank 1" in text and "fails_on_rank_one" in text


def test_max_restarts_restarts_the_worker_group(token):
    flyte.init()
    restarted = flyte.run(
        first_attempt_fails.override(
            plugin_config=Elastic(nnodes=1, nproc_per_node=2, max_restarts=1, monitor_interval=1)
        )
    )
    assert restarted.outputs() == 1  # the second round (restart 1) succeeded
    with pytest.raises(RuntimeError, match="transient failure"):
        flyte.run(first_attempt_fails)  # max_restarts=0: the first failure is final


def test_a_restarted_worker_group_loads_the_checkpoint_its_attempt_saved(token):
    flyte.init()
    one_restart = Elastic(nnodes=1, nproc_per_node=1, max_restarts=1, monitor_interval=1)
    run = flyte.run(resumes_after_a_restart.override(plugin_config=one_restart))
    assert run.outputs() == "progress of round 0"


def test_a_hanging_rank_is_stopped_by_the_timeout_and_no_process_is_left(token, tmp_path):
    flyte.init()
    # The test proves the timeout stops a hang, so the hang must begin before the timeout: size
    # it from how long the ranks take to start here, now (a loaded 2-core machine needs many
    # times the idle figure). Not an assertion on time.
    started = time.monotonic()
    flyte.run(ranks_start)
    startup = time.monotonic() - started
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(rank_one_hangs.override(timeout=max(8.0, 4 * startup)), folder=str(tmp_path))
    pids = {pid for f in tmp_path.glob("pid-*") for pid in json.loads(f.read_text())}
    assert len(pids) == 3  # two workers and their agent
    deadline = time.monotonic() + 60  # a condition with a generous bound, not a speed limit
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]


def test_a_rank_killed_by_a_signal_is_reported_with_its_rank_and_signal(token):
    flyte.init()
    with pytest.raises(WorkerFailedError, match="SIGKILL") as info:
        flyte.run(rank_one_is_killed)
    assert info.value.rank == 1 and info.value.exitcode == -signal.SIGKILL


def test_a_ddp_training_step_lowers_the_loss(token):
    flyte.init()
    out = flyte.run(ddp_steps, steps=20).outputs()[0]
    losses = out["losses"]
    assert len(losses) == 20 and losses[-1] < losses[0] * 0.5
    assert out["replicas_identical"]  # DDP kept the ranks' models in step


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited; only its parent's wait is missing
