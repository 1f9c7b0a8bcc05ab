"""Clustered tasks run locally on real processes: nodes × workers with the torchrun contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import flyte
import flyte.errors
from ctrl_c import finish, interrupt_once_started
from flyte.clustered import ClusteredSettings, ClusteredTaskEnvironment, ClusterFailurePolicy, JaxRun, TorchRun

pytestmark = pytest.mark.slow

CTX_FIELDS = (
    "rank",
    "local_rank",
    "world_size",
    "local_world_size",
    "node_rank",
    "nnodes",
    "master_addr",
    "master_port",
    "restart_attempt",
)
TOPOLOGY = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "NNODES", "MASTER_ADDR", "MASTER_PORT")

env = ClusteredTaskEnvironment(
    name="clustered_env",
    replicas=2,
    nproc_per_node=1,
    env_vars={"TASK_LEVEL": "set"},
    secrets="cluster_token",
)
plain_env = flyte.TaskEnvironment(name="plain_env")


def _report(folder: str) -> dict:
    """What this worker sees, written to ``folder`` (every rank) and returned."""
    ctx = flyte.ctx()
    seen = {name: getattr(ctx, name) for name in CTX_FIELDS}
    seen.update(
        task_name=ctx.task_name,
        attempt=ctx.attempt,
        pid=os.getpid(),
        task_env=os.environ.get("TASK_LEVEL"),
        secret=os.environ.get("CLUSTER_TOKEN"),
    )
    Path(folder, f"rank-{seen['rank']}.json").write_text(json.dumps(seen))
    return seen


@env.task
def report(folder: str) -> dict:
    return _report(folder)


@env.task
async def report_async(folder: str) -> dict:
    return _report(folder)


@env.task
def all_reduce(offset: float) -> float:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    value = torch.tensor([dist.get_rank() + offset])
    dist.all_reduce(value)
    dist.destroy_process_group()
    return value.item()


@env.task
def ddp_train(steps: int) -> dict:
    """The shape of the public DDP example: gloo, DistributedDataParallel, rank 0's loss."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(rank))
    y = x.sum(dim=1, keepdim=True)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(weights) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, weights)
    dist.barrier()
    dist.destroy_process_group()
    return {"losses": losses, "in_step": all(torch.equal(gathered[0], w) for w in gathered), "rank": rank}


@env.task
def lightning_ddp(steps: int) -> dict:
    """Lightning attaches to the workers' process group: strategy="ddp" (not a spawn one)."""
    import lightning
    import torch

    class Tiny(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    ctx = flyte.ctx()
    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=ctx.local_world_size,
        num_nodes=ctx.nnodes,
        strategy="ddp",
        max_steps=steps,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
    )
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=8))
    return {"global_rank": trainer.global_rank, "world_size": trainer.world_size, "node_rank": trainer.node_rank}


@env.task
def jax_gather() -> dict:
    import jax
    from jax.experimental import multihost_utils

    from flyte.clustered import jax_initialize

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes exchange over gloo
    jax_initialize()
    gathered = multihost_utils.process_allgather(jax.numpy.array([jax.process_index() + 1.0]))
    return {"count": jax.process_count(), "index": jax.process_index(), "gathered": gathered.ravel().tolist()}


@env.task
def fails_on_rank_one() -> int:
    if flyte.ctx().rank == 1:
        raise ValueError("shard 7 is missing on rank 1")
    time.sleep(60)  # stopped when rank 1 fails: the set fails as a whole
    return 0


@env.task
def killed_on_rank_one() -> int:
    if flyte.ctx().rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
    return 0


@env.task(retries=1)
def fails_until(folder: str, good_attempt: int, good_restart: int) -> list:
    """Every rank logs (attempt, restart_attempt); rank 1 fails until both reach the good ones."""
    ctx = flyte.ctx()
    with open(Path(folder, f"rank-{ctx.rank}.log"), "a") as f:
        f.write(f"{ctx.attempt} {ctx.restart_attempt}\n")
    if ctx.rank == 1 and (ctx.attempt, ctx.restart_attempt) < (good_attempt, good_restart):
        raise RuntimeError(f"transient failure in attempt {ctx.attempt}, restart {ctx.restart_attempt}")
    return [ctx.attempt, ctx.restart_attempt]


@env.task(retries=1)
def resumes(folder: str) -> list:
    """Rank 0 saves its progress; rank 1 then fails in the first round of each attempt. Every
    round's rank 0 reports what its checkpoint loads."""
    ctx = flyte.ctx()
    cp = ctx.checkpoint
    loaded = cp.load_sync()
    seen = None if loaded is None else loaded.read_text()
    saved = Path(folder, f"saved-{ctx.attempt}-{ctx.restart_attempt}")
    if ctx.rank == 0:
        cp.save_sync(f"attempt {ctx.attempt} restart {ctx.restart_attempt}".encode())
        saved.write_text("yes")
        Path(folder, f"seen-{ctx.attempt}-{ctx.restart_attempt}").write_text(json.dumps(seen))
    elif ctx.restart_attempt == 0:
        while not saved.exists():
            time.sleep(0.05)
        raise RuntimeError("rank 1 lost its node")
    if ctx.attempt == 1:
        raise RuntimeError("fail the attempt after its restart")
    return [seen, ctx.attempt, ctx.restart_attempt]


@env.task
def hangs(folder: str) -> int:
    import subprocess

    child = subprocess.Popen(["sleep", "600"])  # a grandchild: it must not outlive the attempt either
    Path(folder, f"pids-{flyte.ctx().rank}.json").write_text(json.dumps([os.getpid(), os.getppid(), child.pid]))
    time.sleep(600)
    return 0


@plain_env.task
def plain_ctx() -> dict:
    ctx = flyte.ctx()
    return {name: getattr(ctx, name) for name in CTX_FIELDS}


@pytest.fixture
def token():
    from flyte.runtime import secret_store

    secret_store.create("cluster_token", b"s3cr3t-cluster-value")


@pytest.fixture(autouse=True)
def no_topology_here(monkeypatch):
    """This process is no clustered worker (a test run under torchrun would be)."""
    for name in (*TOPOLOGY, "JOBSET_RESTART_ATTEMPT"):
        monkeypatch.delenv(name, raising=False)


def _shape(replicas: int, nproc: int, runtime=None) -> ClusteredSettings:
    return ClusteredSettings(replicas=replicas, nproc_per_node=nproc, runtime=runtime or TorchRun())


def _ranks(folder: Path) -> dict[int, dict]:
    return {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in folder.glob("rank-*.json")}


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited; only its parent's wait is missing


def test_ctx_fields_are_none_in_a_plain_task_and_ctx_is_none_outside_a_task():
    flyte.init()
    assert flyte.ctx() is None
    assert flyte.run(plain_ctx).outputs() == dict.fromkeys(CTX_FIELDS)


@pytest.mark.parametrize(
    ("replicas", "nproc", "runtime"),
    [(2, 1, TorchRun()), (1, 2, TorchRun()), (2, 1, TorchRun(rdzv_backend="c10d")), (2, 1, JaxRun())],
    ids=["2x1", "1x2", "2x1-c10d", "2x1-jax"],
)
def test_every_rank_knows_its_place_and_rank_zero_returns(token, tmp_path, replicas, nproc, runtime):
    flyte.init()
    out = flyte.run(report.override(plugin_config=_shape(replicas, nproc, runtime)), folder=str(tmp_path)).outputs()[0]
    ranks = _ranks(tmp_path)
    assert sorted(ranks) == [0, 1]
    assert out == ranks[0]  # the task's output is rank 0's value
    for rank, seen in ranks.items():
        assert seen["rank"] == rank and seen["world_size"] == 2
        assert seen["nnodes"] == replicas and seen["local_world_size"] == nproc
        assert seen["node_rank"] == (rank if replicas == 2 else 0)
        assert seen["local_rank"] == (0 if replicas == 2 else rank)
        assert seen["master_addr"] == "127.0.0.1" and seen["master_port"] > 0
        assert seen["restart_attempt"] == 0
        assert seen["task_name"] == "clustered_env.report" and seen["attempt"] == 1
        assert seen["task_env"] == "set" and seen["secret"] == "s3cr3t-cluster-value"
    assert ranks[0]["pid"] != ranks[1]["pid"] != os.getpid()


def test_torchrun_tasks_run_without_torch_on_the_direct_launcher(token, tmp_path, monkeypatch):
    from flyte.clustered import _launch

    monkeypatch.setattr(_launch, "_torch_installed", lambda: False)
    flyte.init()
    out = flyte.run(report_async.override(plugin_config=_shape(1, 2)), folder=str(tmp_path)).outputs()[0]
    assert out["rank"] == 0 and sorted(_ranks(tmp_path)) == [0, 1]


def test_gloo_all_reduce_across_nodes(token):
    pytest.importorskip("torch")
    flyte.init()
    assert flyte.run(all_reduce, offset=10.0).outputs() == 21.0  # (0 + 10) + (1 + 10)
    four = all_reduce.override(plugin_config=_shape(2, 2))
    assert flyte.run(four, offset=1.0).outputs() == 10.0  # 1 + 2 + 3 + 4


def test_ddp_training_keeps_the_ranks_in_step_and_returns_rank_zeros_loss(token):
    pytest.importorskip("torch")
    flyte.init()
    out = flyte.run(ddp_train, steps=20).outputs()[0]
    assert out["rank"] == 0 and out["in_step"]
    assert out["losses"][-1] < out["losses"][0] * 0.5


def test_lightning_ddp_joins_the_workers_process_group(token):
    pytest.importorskip("lightning")
    flyte.init()
    out = flyte.run(lightning_ddp.override(plugin_config=_shape(2, 1)), steps=4).outputs()[0]
    assert out == {"global_rank": 0, "world_size": 2, "node_rank": 0}


def test_jax_processes_join_one_jax_distributed_job(token):
    pytest.importorskip("jax")
    flyte.init()
    out = flyte.run(jax_gather.override(plugin_config=_shape(2, 1, JaxRun()))).outputs()[0]
    assert out == {"count": 2, "index": 0, "gathered": [1.0, 2.0]}


@pytest.mark.parametrize("direct", [False, True], ids=["torchrun", "direct"])
def test_a_failing_rank_fails_the_task_with_its_exception(token, monkeypatch, direct):
    if direct:
        from flyte.clustered import _launch

        monkeypatch.setattr(_launch, "_uses_torchrun", lambda settings: False)
    flyte.init()
    with pytest.raises(ValueError) as info:
        flyte.run(fails_on_rank_one)
    text = str(info.value) + "".join(getattr(info.value, "__notes__", []))
    assert "shard 7 is missing on rank 1" in text
    assert "traceback on rank 1" in text and "fails_on_rank_one" in text


@pytest.mark.parametrize("direct", [False, True], ids=["torchrun", "direct"])
def test_a_rank_killed_by_a_signal_is_reported_with_its_rank_and_signal(token, monkeypatch, direct):
    if direct:
        from flyte.clustered import _launch

        monkeypatch.setattr(_launch, "_uses_torchrun", lambda settings: False)
    flyte.init()
    with pytest.raises(flyte.errors.ClusterWorkerError, match="SIGKILL") as info:
        flyte.run(killed_on_rank_one)
    assert info.value.rank == 1 and info.value.exitcode == -signal.SIGKILL


def test_the_whole_set_restarts_before_the_tasks_retries(token, tmp_path):
    flyte.init()
    restarts = ClusteredSettings(replicas=2, nproc_per_node=1, failure_policy=ClusterFailurePolicy(max_restarts=1))
    task = fails_until.override(plugin_config=restarts)
    for name in "abc":
        (tmp_path / name).mkdir()
    # Restart 1 of attempt 1 succeeds: no retry used.
    assert flyte.run(task, folder=str(tmp_path / "a"), good_attempt=1, good_restart=1).outputs() == [1, 1]
    # Both restarts of attempt 1 fail: the task's retry starts attempt 2 over from restart 0.
    assert flyte.run(task, folder=str(tmp_path / "b"), good_attempt=2, good_restart=0).outputs() == [2, 0]
    for rank in (0, 1):
        log = (tmp_path / "b" / f"rank-{rank}.log").read_text().split("\n")
        assert log[:-1] == ["1 0", "1 1", "2 0"]  # every rank started over each time
    # Restarts and retries used up: the last failure is the task's error.
    with pytest.raises(RuntimeError, match="transient failure in attempt 2, restart 1"):
        flyte.run(task, folder=str(tmp_path / "c"), good_attempt=3, good_restart=0)


def test_a_restarted_set_resumes_from_what_its_attempt_saved_and_the_next_attempt_too(token, tmp_path):
    flyte.init()
    shape = ClusteredSettings(replicas=2, nproc_per_node=1, failure_policy=ClusterFailurePolicy(max_restarts=1))
    out = flyte.run(resumes.override(plugin_config=shape), folder=str(tmp_path)).outputs()[0]
    seen = {p.name: json.loads(p.read_text()) for p in tmp_path.glob("seen-*")}
    assert seen == {
        "seen-1-0": None,  # nothing saved yet
        "seen-1-1": "attempt 1 restart 0",  # the restarted set loads what its attempt saved
        "seen-2-0": "attempt 1 restart 1",  # the retry loads the failed attempt's newest
        "seen-2-1": "attempt 2 restart 0",
    }
    assert out == ["attempt 2 restart 0", 2, 1]


@pytest.mark.parametrize("direct", [False, True], ids=["torchrun", "direct"])
def test_in_node_restarts_restart_a_nodes_workers_within_the_set(token, tmp_path, monkeypatch, direct):
    if direct:
        from flyte.clustered import _launch

        monkeypatch.setattr(_launch, "_uses_torchrun", lambda settings: False)
    else:
        pytest.importorskip("torch")
    flyte.init()
    shape = ClusteredSettings(replicas=1, nproc_per_node=2, runtime=TorchRun(rdzv_backend="c10d", max_restarts=1))
    (tmp_path / "a").mkdir()
    # rank 1 fails in restart_attempt 0 whatever happens; an in-node restart is not a set restart.
    with pytest.raises(RuntimeError, match="transient failure"):
        flyte.run(
            fails_until.override(plugin_config=shape, retries=0),
            folder=str(tmp_path / "a"),
            good_attempt=1,
            good_restart=1,
        )
    log = (tmp_path / "a" / "rank-1.log").read_text().split("\n")
    assert log[:-1] == ["1 0", "1 0"]  # the node's workers ran twice, restart_attempt unchanged


@pytest.mark.parametrize("direct", [False, True], ids=["torchrun", "direct"])
def test_a_timeout_stops_every_process_and_nothing_is_left(token, tmp_path, monkeypatch, direct):
    if direct:
        from flyte.clustered import _launch

        monkeypatch.setattr(_launch, "_uses_torchrun", lambda settings: False)
    flyte.init()
    # The hang must begin before the timeout: size it from how long the workers take to start
    # here, now (a loaded 2-core machine needs many times the idle figure). Not a speed limit.
    started = time.monotonic()
    flyte.run(report, folder=str(tmp_path))
    startup = time.monotonic() - started
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(hangs.override(timeout=max(8.0, 4 * startup)), folder=str(tmp_path))
    pids = {pid for f in tmp_path.glob("pids-*.json") for pid in json.loads(f.read_text())}
    pids.discard(os.getpid())
    assert len(pids) == (6 if not direct else 4)  # workers, their grandchildren, and the agents
    deadline = time.monotonic() + 60  # a condition with a generous bound, not a speed limit
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]


def test_secrets_reach_every_worker_but_no_log_or_record(token, tmp_path, flyte_home, caplog):
    flyte.init()  # every rank gets it: asserted in the tests above
    restarts = ClusteredSettings(replicas=2, nproc_per_node=1, failure_policy=ClusterFailurePolicy(max_restarts=1))
    with pytest.raises(ValueError, match="bad token"):  # every rank prints it, rank 1 raises with it,
        flyte.run(leaks_secret.override(plugin_config=restarts))  # the restart's warning quotes it
    (warning,) = [r.getMessage() for r in caplog.records if "restarting every node" in r.getMessage()]
    assert "bad token ***" in warning and "s3cr3t-cluster-value" not in warning
    store_files = {p for p in (flyte_home / "secrets").rglob("*") if p.is_file()}
    checked = [p for p in flyte_home.rglob("*") if p.is_file() and p not in store_files]
    logs = [p for p in checked if p.suffix == ".log" and b"token ***" in p.read_bytes()]
    assert logs  # the workers' output was captured, masked
    for path in checked:
        assert b"s3cr3t-cluster-value" not in path.read_bytes(), path


@env.task
def leaks_secret() -> int:
    print(f"rank {flyte.ctx().rank} token {os.environ['CLUSTER_TOKEN']}", flush=True)
    if flyte.ctx().rank == 1:
        raise ValueError(f"bad token {os.environ['CLUSTER_TOKEN']}")
    time.sleep(60)
    return 0


INTERRUPTED = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import flyte
    from flyte.clustered import ClusteredTaskEnvironment

    env = ClusteredTaskEnvironment(name="interrupted", replicas=2, nproc_per_node=1)

    @env.task
    def waits(marker: str) -> int:
        folder = Path(marker).parent
        (folder / f"pids-{flyte.ctx().rank}.json").write_text(json.dumps([os.getpid(), os.getppid()]))
        if flyte.ctx().rank == 0:
            while not (folder / "pids-1.json").exists():
                time.sleep(0.05)
            Path(marker).write_text("started")
        time.sleep(600)
        return 1

    if __name__ == "__main__":
        flyte.init()
        flyte.with_runcontext(name="interrupted-run").run(waits, sys.argv[1])
""")


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_an_interrupted_or_killed_flyte_process_leaves_no_worker(tmp_path, flyte_home, how):
    """Ctrl-C cancels the run, which stops every process group; a SIGKILLed flyte process
    cannot stop anything, so its agents and workers die with their parent (PR_SET_PDEATHSIG)."""
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    marker = tmp_path / "marker"
    if how == "ctrl-c":
        returncode, stderr = interrupt_once_started(script, marker, flyte_home=flyte_home)
        assert "KeyboardInterrupt" in stderr and returncode != 0
        from flyte.remote import Run

        assert Run.get("interrupted-run").phase == "ABORTED"
    else:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(marker)], env={**os.environ, "FLYTE_HOME": str(flyte_home)}
        )
        deadline = time.monotonic() + 120  # a guard against a hung child, not a speed check
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), "the task never started"
        proc.kill()
        finish(proc)
    pids = {pid for f in tmp_path.glob("pids-*.json") for pid in json.loads(f.read_text())}
    assert len(pids) == 4  # two workers and their two agents
    deadline = time.monotonic() + 60  # a condition with a generous bound, not a speed limit
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]
