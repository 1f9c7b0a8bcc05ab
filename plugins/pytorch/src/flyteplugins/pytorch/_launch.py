"""Run one attempt of an ``Elastic`` task on real torch.distributed.

On this machine: one torch elastic agent per node (``max`` of ``nnodes``, the size the rendered
PyTorchJob asks for), each a child process in its own process group with ``nproc_per_node``
workers, all rendezvousing over loopback (c10d on a free port, node 0 hosting the store). In a
PyTorchJob pod (the training operator sets ``PET_*`` variables): one agent for this pod, with
the rendezvous the operator set up.

Every worker gets the task's environment (env vars, secrets) plus the NCCL settings, runs the
function with the same inputs, and reports through files in a private folder: rank 0 its
result, a failing rank its exception. When a node fails for good the others get a grace
period and are then stopped; when this coroutine is cancelled (timeout, Ctrl-C) every process
group is terminated, then killed. Nothing outlives the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from flyte.extend import IgnoreOutputs, TaskCall, process_groups, shipping
from flyteplugins.pytorch.errors import WorkerFailedError
from flyteplugins.pytorch.task import Elastic

logger = logging.getLogger("flyteplugins.pytorch")

TERMINATE_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of an agent's process group


async def run(call: TaskCall) -> Any:
    config: Elastic = call.spec.plugin_config
    pet = _operator_settings()
    plan = _cluster_plan(config, pet) if pet else _local_plan(config)
    env = _worker_env(config, call.environ, local=not pet)
    nodes = [-1] if pet else list(range(plan["max_nodes"]))
    with tempfile.TemporaryDirectory(prefix="flyte-torch-") as folder:
        out = Path(folder)
        (out / "call.pkl").write_bytes(shipping.dumps_call(call.function, call.inputs, by_file=True))
        (out / "context.pkl").write_bytes(shipping.dumps_context(call.context))  # flyte.ctx() in every rank
        (out / "plan.json").write_text(json.dumps(plan))
        codes = await _run_agents(folder, nodes, env, grace=max(10.0, 3 * float(config.monitor_interval)))
        return _outcome(call.spec.name, out, codes, in_cluster=bool(pet))


# -- the plan ---------------------------------------------------------------------------------
def _local_plan(config: Elastic) -> dict[str, Any]:
    low, high = config.node_range
    return {
        "min_nodes": low,
        "max_nodes": high,
        "nproc_per_node": config.nproc_per_node,
        "rdzv_backend": "c10d",  # etcd needs a server; locally c10d does the same job
        "rdzv_endpoint": f"127.0.0.1:{process_groups.free_port()}",
        "rdzv_configs": dict(config.rdzv_configs),
        "run_id": uuid.uuid4().hex,
        "max_restarts": config.max_restarts,
        "monitor_interval": config.monitor_interval,
        "local_addr": "127.0.0.1",
    }


def _operator_settings() -> dict[str, str]:
    """The training operator's ``PET_*`` variables, when running inside a PyTorchJob pod."""
    if not os.environ.get("PET_RDZV_ENDPOINT"):
        return {}
    return {k[4:]: v for k, v in os.environ.items() if k.startswith("PET_")}


def _cluster_plan(config: Elastic, pet: dict[str, str]) -> dict[str, Any]:
    from flyteplugins.pytorch.task import parse_nnodes

    low, high = parse_nnodes(pet.get("NNODES", config.nnodes))
    rdzv_configs = dict(config.rdzv_configs)
    for item in filter(None, pet.get("RDZV_CONF", "").split(",")):
        key, _, value = item.partition("=")
        rdzv_configs[key] = value
    return {
        "min_nodes": low,
        "max_nodes": high,
        "nproc_per_node": int(pet.get("NPROC_PER_NODE", config.nproc_per_node)),
        "rdzv_backend": pet.get("RDZV_BACKEND", config.rdzv_backend),
        "rdzv_endpoint": pet["RDZV_ENDPOINT"],
        "rdzv_configs": rdzv_configs,
        "run_id": pet.get("RDZV_ID") or os.environ.get("FLYTE_TORCH_RUN_ID", "flyte"),
        "max_restarts": int(pet.get("MAX_RESTARTS", config.max_restarts)),
        "monitor_interval": config.monitor_interval,
        "local_addr": None,
    }


def _worker_env(config: Elastic, environ: Any, local: bool) -> dict[str, str]:
    env = dict(environ)
    for key, value in config.nccl_env().items():
        env.setdefault(key, value)  # a value the task sets itself wins
    env.setdefault("PYTHONUNBUFFERED", "1")  # a worker's prints show before it dies
    # Workers of each restart round get a store of their own (on rank 0, a fresh port). With
    # the agent's shared store, keys a killed round left behind (a dead rank 0's gloo address)
    # are read by the next round: "connectFullMesh failed ... Connection refused".
    env.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    if config.nproc_per_node > 1:
        env.setdefault("OMP_NUM_THREADS", "1")  # as torchrun: N workers must not oversubscribe
    if local and (loopback := process_groups.loopback_interface()):
        env.setdefault("GLOO_SOCKET_IFNAME", loopback)  # the simulated nodes talk over loopback
    return env


# -- the agents -------------------------------------------------------------------------------
async def _run_agents(folder: str, nodes: list[int], env: dict[str, str], grace: float) -> dict[int, int]:
    """Start one agent per node and wait for all; return each node's exit code."""
    procs: dict[int, asyncio.subprocess.Process] = {}
    try:
        for node in nodes:
            procs[node] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "flyteplugins.pytorch._agent",
                folder,
                str(node),
                env=env,
                start_new_session=True,  # its own process group: one signal reaches its workers
            )
        waits = {asyncio.ensure_future(p.wait()): node for node, p in procs.items()}
        codes: dict[int, int] = {}
        pending = set(waits)
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while pending:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                codes[waits[future]] = future.result()
            if not done:  # the survivors of a failed node had their grace period
                logger.warning("stopping %d node(s) still running after another node failed", len(pending))
                break
            if deadline is None and any(code != 0 for code in codes.values()):
                deadline = loop.time() + grace
        for node, proc in procs.items():
            codes.setdefault(node, proc.returncode if proc.returncode is not None else -int(signal.SIGTERM))
        return codes
    finally:
        # Also for agents that exited, to take down any worker they left behind.
        await process_groups.stop(list(procs.values()), TERMINATE_GRACE)


# -- the outcome ------------------------------------------------------------------------------
def _outcome(task: str, out: Path, codes: dict[int, int], in_cluster: bool) -> Any:
    result = out / "result.pkl"
    if all(code == 0 for code in codes.values()):
        if result.exists():
            _, value = shipping.read_outcome(result.read_bytes())
            return value
        if in_cluster:
            raise IgnoreOutputs(f"{task}: rank 0 runs in another pod of this PyTorchJob")
        raise WorkerFailedError(f"{task}: the workers exited without rank 0 reporting a result")
    errors = _last_round_records(out, "error-rank*-restart*.pkl")
    exits = _last_round_records(out, "exit-rank*-restart*.json")
    raised = {e.get("rank") for e in errors}
    causes = [e for e in errors if not _peer_failure(e)]
    # A worker that died without an exception (a signal other than the agent's SIGTERM, a
    # crash) started it, when its peers only report losing it ("connection reset by peer").
    silent = [
        {**x, "node": None, "message": ""}
        for x in sorted(exits, key=lambda x: x.get("time", 0.0))
        if x["exitcode"] not in (0, -signal.SIGTERM) and x["rank"] not in raised
    ]
    if not causes and silent:
        return _raise_worker_failure(task, silent, errors)
    if causes or errors:
        first = min(causes or errors, key=lambda r: r.get("time", 0.0))
        raise shipping.rebuild_error(
            first,
            fallback=lambda text: WorkerFailedError(f"{task}: rank {first.get('rank')}: {text}", first.get("rank")),
            heading=f"traceback on rank {first.get('rank')} (restart {first.get('restart')}):",
        )
    return _raise_worker_failure(task, _agent_failures(out, codes), errors)


# How gloo and NCCL report that a peer went away: the consequence, never the cause.
PEER_FAILURES = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "communicator was aborted")


def _peer_failure(record: dict[str, Any]) -> bool:
    return any(text in str(record.get("message", "")) for text in PEER_FAILURES)


def _last_round_records(out: Path, pattern: str) -> list[dict[str, Any]]:
    """The workers' reports (exceptions, or exits) of the last restart round."""
    records = []
    for path in out.glob(pattern):
        with contextlib.suppress(Exception):
            if path.suffix == ".json":
                records.append(json.loads(path.read_text()))
                continue
            kind, record = shipping.read_outcome(path.read_bytes())
            if kind == "error":
                records.append(record)
    last = max((r.get("restart", 0) for r in records), default=0)
    return [r for r in records if r.get("restart", 0) == last]


def _agent_failures(out: Path, codes: dict[int, int]) -> list[dict[str, Any]]:
    """What each failed agent saw: its failed ranks (exit codes, torch's message), or its own exit."""
    failures = []
    for node, code in sorted(codes.items()):
        if code == 0:
            continue
        report = out / f"agent-{max(node, 0)}.json"
        seen = json.loads(report.read_text()) if report.exists() else []
        for failure in seen or [{"rank": None, "exitcode": code, "message": "the elastic agent failed"}]:
            failures.append({**failure, "node": max(node, 0)})
    return failures


def _raise_worker_failure(task: str, failures: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
    lines = []
    for failure in failures:
        exitcode = failure.get("exitcode")
        what = shipping.describe_exit(exitcode) if isinstance(exitcode, int) else "failed"
        who = f"rank {failure['rank']}" if failure.get("rank") is not None else "agent"
        where = f"node {failure['node']}, " if failure.get("node") is not None else ""
        message = (failure.get("message") or "").strip()
        lines.append(f"{where}{who}: {what}" + (f" ({message})" if message and len(message) < 300 else ""))
    for error in sorted(errors, key=lambda r: r.get("time", 0.0)):
        lines.append(f"then rank {error.get('rank')}: {error.get('type')}: {str(error.get('message'))[:300]}")
    first = failures[0] if failures else {}
    hint = ""
    if first.get("exitcode") == -signal.SIGKILL:
        hint = "\n(SIGKILL usually means the out-of-memory killer or a memory limit.)"
    raise WorkerFailedError(
        f"{task}: distributed workers failed:\n  " + "\n  ".join(lines) + hint,
        rank=first.get("rank"),
        exitcode=first.get("exitcode"),
    )
