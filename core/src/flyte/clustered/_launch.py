"""Run one attempt of a clustered task on this machine, on real processes.

``replicas`` simulated nodes × ``nproc_per_node`` workers, on loopback, each worker with the
torchrun environment contract (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``,
``NODE_RANK``/``GROUP_RANK``, ``NNODES``, ``MASTER_ADDR``, ``MASTER_PORT``,
``JOBSET_RESTART_ATTEMPT``). A node is:

- with ``TorchRun`` and torch installed, torch's own launcher (``torch.distributed.run``, one
  elastic agent per node, ``TorchRun.max_restarts`` in-node restarts, its rendezvous on node 0);
- otherwise (``JaxRun``, or a task in an environment without torch) the node's workers, started
  directly with the same variables (``TorchRun.max_restarts`` restarts a node's workers here).

Every node runs in its own process groups. When a node fails for good the whole set stops and,
while ``ClusterFailurePolicy.max_restarts`` allows, starts over (``restart_attempt`` + 1); then
the attempt fails with the first failing rank's exception, and the task's ``retries`` apply.
Cancelling the attempt (timeout, Ctrl-C, abort) terminates every process group, then kills
it: nothing outlives the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flyte import process_groups, shipping
from flyte.clustered.config import ClusteredSettings, JaxRun, TorchRun
from flyte.errors import ClusterWorkerError
from flyte.plugin_types import TaskCall
from flyte.runtime.redact import redact

logger = logging.getLogger("flyte.clustered")

LOOPBACK = "127.0.0.1"
TERMINATE_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a node's process groups
WORKER = "flyte.clustered._worker"
AGENT = "flyte.clustered._agent"
# How gloo and NCCL report that a peer went away: the consequence of a failure, never its cause.
PEER_FAILURES = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "communicator was aborted")


async def run(call: TaskCall) -> Any:
    """The attempt: rank 0's return value, or the first failing rank's exception."""
    settings: ClusteredSettings = call.spec.plugin_config
    settings.check_gpus(call.spec.resources)  # an override may have changed either
    policy = settings.failure_policy
    with tempfile.TemporaryDirectory(prefix="flyte-clustered-") as folder:
        root = Path(folder)
        (root / "call.pkl").write_bytes(shipping.dumps_call(call.function, call.inputs, by_file=True))
        (root / "context.pkl").write_bytes(shipping.dumps_context(call.context))
        for restart in range(policy.max_restarts + 1):
            round_dir = root / f"restart-{restart}"
            round_dir.mkdir()
            procs = _Round(round_dir)
            if await _run_round(settings, folder, procs, _base_env(call.environ, settings, restart)):
                return _result(call.spec.name, round_dir)
            error = _failure(call.spec.name, round_dir, procs.failures)
            if restart == policy.max_restarts:
                raise error
            logger.warning(
                "%s: a worker failed (%s); restarting every node (restart %d of %d)",
                call.spec.name,
                redact(str(error).splitlines()[0]) if str(error) else type(error).__name__,
                restart + 1,
                policy.max_restarts,
            )
    raise AssertionError("unreachable")


def _base_env(environ: Mapping[str, str], settings: ClusteredSettings, restart: int) -> dict[str, str]:
    """What every worker of this round gets: the task's environment (env vars, secrets) and
    the set's shape; each node and rank add their own place."""
    env = dict(environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # a worker's prints show before it dies
    if settings.nproc_per_node > 1:
        env.setdefault("OMP_NUM_THREADS", "1")  # as torchrun: N workers must not oversubscribe
    if loopback := process_groups.loopback_interface():
        env.setdefault("GLOO_SOCKET_IFNAME", loopback)  # the simulated nodes talk over loopback
    env.update(
        NNODES=str(settings.replicas),
        GROUP_WORLD_SIZE=str(settings.replicas),
        WORLD_SIZE=str(settings.world_size),
        LOCAL_WORLD_SIZE=str(settings.nproc_per_node),
        MASTER_ADDR=LOOPBACK,
        MASTER_PORT=str(process_groups.free_port()),
        JOBSET_RESTART_ATTEMPT=str(restart),
    )
    return env


# -- one round: every node, started together ----------------------------------------------
class _Round:
    """The processes of one round, so that all of them can be stopped whatever happens."""

    def __init__(self, round_dir: Path) -> None:
        self.round_dir = round_dir
        self.procs: list[asyncio.subprocess.Process] = []
        self.stopping = False
        # Workers that failed, in the order seen: {"node", "rank", "exitcode", "message"}.
        self.failures: list[dict[str, Any]] = []

    async def start(self, args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
        if self.stopping:
            raise asyncio.CancelledError
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            start_new_session=True,  # its own process group: one signal reaches its children
        )
        self.procs.append(proc)
        return proc

    async def stop(self) -> None:
        """Stop every node's process groups (also of processes that exited, to take down
        anything they left behind)."""
        self.stopping = True
        await process_groups.stop(self.procs, TERMINATE_GRACE)


async def _run_round(settings: ClusteredSettings, folder: str, procs: _Round, env: dict[str, str]) -> bool:
    """Start every node and wait; True when all succeeded. A node that fails for good stops
    the others at once: the set restarts (or fails) as a whole."""
    node = _torchrun_node if _uses_torchrun(settings) else _direct_node
    round_dir = procs.round_dir
    nodes = [
        asyncio.ensure_future(node(procs, settings, i, [folder, str(round_dir)], env)) for i in range(settings.replicas)
    ]
    try:
        pending = set(nodes)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(task.result() != 0 for task in done):
                return False
        return True
    finally:
        await procs.stop()
        for task in nodes:
            task.cancel()
        await asyncio.gather(*nodes, return_exceptions=True)


def _uses_torchrun(settings: ClusteredSettings) -> bool:
    return isinstance(settings.runtime, TorchRun) and _torch_installed()


def _torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def _node_env(env: dict[str, str], node: int) -> dict[str, str]:
    return {**env, "NODE_RANK": str(node), "GROUP_RANK": str(node)}


async def _torchrun_node(procs: _Round, settings: ClusteredSettings, node: int, args: list[str], env: dict) -> int:
    """torch's launcher for one node; its exit status."""
    runtime = settings.runtime
    assert isinstance(runtime, TorchRun)
    port = env["MASTER_PORT"]
    launcher = [
        f"--nnodes={settings.replicas}",
        f"--nproc-per-node={settings.nproc_per_node}",
        f"--max-restarts={runtime.max_restarts}",
        f"--rdzv-backend={runtime.rdzv_backend}",
        f"--local-addr={LOOPBACK}",
        "--monitor-interval=0.2",
    ]
    if runtime.rdzv_backend == "static":
        launcher += [f"--node-rank={node}", f"--master-addr={LOOPBACK}", f"--master-port={port}"]
    else:  # c10d: node 0 hosts the store; ranks come from the rendezvous
        launcher += [
            f"--rdzv-endpoint={LOOPBACK}:{port}",
            f"--rdzv-id={Path(args[0]).name}-{Path(args[1]).name}",  # the attempt's folder, the round
            f"--rdzv-conf=is_host={'true' if node == 0 else 'false'}",
        ]
    node_env = _node_env(env, node)
    # Workers of each restart get a store of their own: with the agent's, keys a killed round
    # left behind (a dead rank 0's gloo address) are read by the next one.
    node_env.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR"):
        node_env.pop(name, None)  # torchrun sets each worker's own
    proc = await procs.start(["-m", AGENT, args[1], str(node), *launcher, "-m", WORKER, *args], node_env)
    code = await proc.wait()
    report = procs.round_dir / f"agent-{node}.json"
    if code != 0 and not procs.stopping:
        seen = json.loads(report.read_text()) if report.exists() else []
        procs.failures.extend(seen or [{"node": node, "rank": None, "exitcode": code, "message": "torchrun failed"}])
    return code


async def _direct_node(procs: _Round, settings: ClusteredSettings, node: int, args: list[str], env: dict) -> int:
    """The node's workers started directly, each with its rank; restarted together up to
    ``TorchRun.max_restarts`` times when one fails. 0 when all succeeded."""
    restarts = settings.runtime.max_restarts if isinstance(settings.runtime, TorchRun) else 0
    node_env = _node_env(env, node)
    for restart in range(restarts + 1):
        workers = []
        for local in range(settings.nproc_per_node):
            rank_env = {
                **node_env,
                "RANK": str(node * settings.nproc_per_node + local),
                "LOCAL_RANK": str(local),
            }
            if not isinstance(settings.runtime, JaxRun):
                rank_env.update(TORCHELASTIC_RESTART_COUNT=str(restart), TORCHELASTIC_MAX_RESTARTS=str(restarts))
            workers.append(await procs.start(["-m", WORKER, *args], rank_env))
        first_rank = node * settings.nproc_per_node
        failed = await _first_failures(workers)
        if not failed:
            return 0
        if not procs.stopping:
            procs.failures.extend(
                {"node": node, "rank": first_rank + local, "exitcode": code, "message": ""} for local, code in failed
            )
    return 1


async def _first_failures(workers: list[asyncio.subprocess.Process]) -> list[tuple[int, int]]:
    """Wait for the workers; at the first failure stop the rest (as torchrun does). The
    ``(local rank, exit code)`` of the workers that failed first; [] when all succeeded."""
    waits = {asyncio.ensure_future(w.wait()): local for local, w in enumerate(workers)}
    pending = set(waits)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        failed = sorted((waits[task], task.result()) for task in done if task.result() != 0)
        if failed:
            await process_groups.stop(workers, TERMINATE_GRACE)
            return failed
    return []


# -- the outcome ------------------------------------------------------------------------------
def _result(task: str, round_dir: Path) -> Any:
    result = round_dir / "result.pkl"
    if not result.exists():
        raise ClusterWorkerError(f"{task}: the workers exited without rank 0 reporting a result")
    _, value = shipping.read_outcome(result.read_bytes())
    return value


def _failure(task: str, round_dir: Path, failures: list[dict[str, Any]]) -> Exception:
    """What failed the round, as an exception: the exception of the rank whose failure started
    it (the earliest that is not a peer's lost connection), as itself; else a worker that died
    without one (a signal, a crash) as a ClusterWorkerError naming its rank and exit."""
    records = []
    for path in round_dir.glob("error-rank*-restart*.pkl"):
        with contextlib.suppress(Exception):
            kind, record = shipping.read_outcome(path.read_bytes())
            if kind == "error":
                records.append(record)
    last = max((r.get("restart", 0) for r in records), default=0)  # the node's last in-node restart
    records = [r for r in records if r.get("restart", 0) == last]
    causes = [r for r in records if not any(text in str(r.get("message", "")) for text in PEER_FAILURES)]
    raised = {r.get("rank") for r in records}
    silent = [f for f in failures if f.get("rank") not in raised or f.get("rank") is None]
    if not causes and silent:
        return _worker_error(task, silent)
    if not records:
        return ClusterWorkerError(f"{task}: the workers failed without a report (see the task's log)")
    first = min(causes or records, key=lambda r: r.get("time", 0.0))
    return shipping.rebuild_error(
        first,
        fallback=_fallback(task, first.get("rank")),
        heading=f"traceback on rank {first.get('rank')}:",
    )


def _worker_error(task: str, failures: list[dict[str, Any]]) -> ClusterWorkerError:
    lines = []
    for failure in failures:
        code = failure.get("exitcode")
        what = shipping.describe_exit(code) if isinstance(code, int) else "failed"
        who = f"rank {failure['rank']}" if failure.get("rank") is not None else "its launcher"
        message = (failure.get("message") or "").strip()
        lines.append(f"node {failure.get('node')}, {who}: {what}" + (f" ({message})" if 0 < len(message) < 300 else ""))
    first = failures[0]
    hint = ""
    if first.get("exitcode") == -signal.SIGKILL:
        hint = "\n(SIGKILL usually means the out-of-memory killer or a memory limit.)"
    return ClusterWorkerError(
        f"{task}: a worker failed:\n  " + "\n  ".join(lines) + hint, first.get("rank"), first.get("exitcode")
    )


def _fallback(task: str, rank: int | None) -> Callable[[str], Exception]:
    def make(text: str) -> Exception:
        return ClusterWorkerError(f"{task}: rank {rank}: {text}", rank)

    return make
