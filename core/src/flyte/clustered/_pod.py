"""One pod of a clustered task's JobSet: this pod is one node of the set.

``python -m flyte.entrypoint --module M --task T --clustered`` (the rendered container command,
see :mod:`flyte.clustered._render`) calls :func:`join` before running the task. It reads the
pod's place from the JobSet's environment:

- ``JOB_COMPLETION_INDEX`` (set by Kubernetes in an Indexed Job's pods) → ``NODE_RANK``
- ``JOBSET_NAME``, ``POD_NAMESPACE`` (downward API) → ``MASTER_ADDR``, node 0's DNS name
  through the JobSet's headless service, ``<jobset>-node-0-0.<jobset>`` (resolved through the
  pod's namespace search path, whatever the cluster's domain). ``MASTER_ADDR``, when set in the
  container's environment, is used as it is instead.
- ``NNODES``, ``NPROC_PER_NODE``, ``MASTER_PORT`` (29500 when unset), ``RDZV_BACKEND``
  (TorchRun) as rendered; ``JOBSET_RESTART_ATTEMPT`` (downward API: the JobSet's restart count)

and waits until ``MASTER_ADDR`` resolves (node 0's pod may start after this one; its DNS record
appears with it). Then the task's attempt (:func:`run`, routed here by the core plugin) starts
this node's workers as the local launcher starts a simulated node: ``torch.distributed.run``
with the static or c10d rendezvous on ``MASTER_ADDR:MASTER_PORT`` for ``TorchRun`` (when torch is
installed), the workers directly for ``JaxRun``, each worker with torchrun's variables. The pod
whose workers include rank 0 returns its value (the entrypoint writes the task's outputs); the
others end with ``IgnoreOutputs`` (exit 0). A failed worker fails the pod with that rank's
exception, and JobSet restarts every pod.

JobSet counts restarts over the whole life of the set, across the task's attempts: the
rendered budget is ``failure_policy.max_restarts`` restarts for each attempt
(:func:`flyte.clustered._render.total_restarts`), so restart ``n`` is restart
``n % (max_restarts + 1)`` of attempt ``n // (max_restarts + 1)``, and the workers see the
former as ``JOBSET_RESTART_ATTEMPT`` (``flyte.ctx().restart_attempt``), as in a local run. (A
restart for host maintenance, outside the budget, advances JobSet's count too, and so shifts
this split by one.)
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from flyte import shipping
from flyte.clustered import _launch
from flyte.clustered._render import MASTER_PORT, REPLICATED_JOB
from flyte.clustered.config import ClusteredSettings, TorchRun
from flyte.errors import FlyteError, IgnoreOutputs
from flyte.plugin_types import TaskCall

REQUIRED = (
    "JOBSET_NAME",
    "POD_NAMESPACE",
    "JOB_COMPLETION_INDEX",
    "JOBSET_RESTART_ATTEMPT",
    "NNODES",
    "NPROC_PER_NODE",
)
DNS_TIMEOUT = 300.0  # seconds; FLYTE_CLUSTERED_DNS_TIMEOUT overrides it
DNS_INTERVAL = 2.0


class ClusteredPodError(FlyteError, RuntimeError):
    """The pod's JobSet environment is missing or does not match the task: the container was
    not started by the rendered JobSet, or the image holds other code than was rendered."""


@attrs.frozen
class PodNode:
    """This pod's place in the set, as its JobSet environment tells it."""

    jobset: str
    namespace: str
    node_rank: int
    nnodes: int
    nproc_per_node: int
    master_addr: str
    master_port: int
    restart_count: int  # JOBSET_RESTART_ATTEMPT: the JobSet's restarts since it was created
    rdzv_backend: str | None


_joined: tuple[str, PodNode] | None = None  # (task name, node): set once per entrypoint process


def node_from_environment(environ: Mapping[str, str] = os.environ) -> PodNode:
    """The pod's place from its environment; :class:`ClusteredPodError` naming what is missing
    or malformed."""
    missing = [name for name in REQUIRED if not environ.get(name)]
    if missing:
        raise ClusteredPodError(
            f"--clustered: {', '.join(missing)} not set (the rendered JobSet sets them in every pod: "
            "JOB_COMPLETION_INDEX by Kubernetes, the rest in the container's env)"
        )
    numbers = {}
    for name in ("JOB_COMPLETION_INDEX", "JOBSET_RESTART_ATTEMPT", "NNODES", "NPROC_PER_NODE"):
        numbers[name] = _count(name, environ[name])
    port = _count("MASTER_PORT", environ.get("MASTER_PORT") or str(MASTER_PORT))
    index, nnodes = numbers["JOB_COMPLETION_INDEX"], numbers["NNODES"]
    if index >= nnodes:
        raise ClusteredPodError(f"--clustered: JOB_COMPLETION_INDEX={index} is not a node of NNODES={nnodes}")
    jobset = environ["JOBSET_NAME"]
    return PodNode(
        jobset=jobset,
        namespace=environ["POD_NAMESPACE"],
        node_rank=index,
        nnodes=nnodes,
        nproc_per_node=numbers["NPROC_PER_NODE"],
        master_addr=environ.get("MASTER_ADDR") or master_host(jobset),
        master_port=port,
        restart_count=numbers["JOBSET_RESTART_ATTEMPT"],
        rdzv_backend=environ.get("RDZV_BACKEND") or None,
    )


def _count(name: str, text: str) -> int:
    if not text.isdigit():
        raise ClusteredPodError(f"--clustered: {name}={text!r} is not a whole number")
    return int(text)


def master_host(jobset: str) -> str:
    """Node 0's name: the first pod of the first Job of the replicated job, in the JobSet's
    headless service (named after the JobSet, JobSet's default subdomain)."""
    return f"{jobset}-{REPLICATED_JOB}-0-0.{jobset}"


def wait_for_dns(
    host: str,
    timeout: float = DNS_TIMEOUT,
    interval: float = DNS_INTERVAL,
    resolve: Callable[[str], Any] = lambda h: socket.getaddrinfo(h, None),
) -> None:
    """Return once ``host`` resolves; :class:`ClusteredPodError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            resolve(host)
            return
        except OSError as exc:  # socket.gaierror: not (yet) in DNS
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClusteredPodError(
                    f"--clustered: MASTER_ADDR {host!r} did not resolve within {timeout:g} s ({exc}); "
                    "is node 0's pod running, and the JobSet's network.enableDNSHostnames set?"
                ) from None
            time.sleep(min(interval, remaining))


def join(task: Any, environ: Mapping[str, str] = os.environ) -> PodNode:
    """Make this process one node of ``task``'s JobSet: read the place, check it against the
    task's settings, wait for node 0's name to resolve. The task's attempts then run here."""
    global _joined
    settings = task.spec.plugin_config
    if not isinstance(settings, ClusteredSettings):
        raise ClusteredPodError(f"--clustered: {task.name} is not a task of a ClusteredTaskEnvironment")
    node = node_from_environment(environ)
    if (node.nnodes, node.nproc_per_node) != (settings.replicas, settings.nproc_per_node):
        raise ClusteredPodError(
            f"--clustered: the pod says NNODES={node.nnodes}, NPROC_PER_NODE={node.nproc_per_node}, the task "
            f"{task.name} replicas={settings.replicas}, nproc_per_node={settings.nproc_per_node} "
            "(render the JobSet again from the code in the image)"
        )
    timeout = float(environ.get("FLYTE_CLUSTERED_DNS_TIMEOUT") or DNS_TIMEOUT)
    wait_for_dns(node.master_addr, timeout=timeout)
    _joined = (task.name, node)
    return node


def current_node(spec: Any) -> PodNode | None:
    """The node this process joined, when ``spec`` is the task it joined for; None otherwise
    (a local run, or another task)."""
    if _joined is None or _joined[0] != spec.name:
        return None
    return _joined[1]


def leave() -> None:
    """Forget the joined node (tests run several pods' worth in one process)."""
    global _joined
    _joined = None


# -- the attempt ------------------------------------------------------------------------------
async def run(call: TaskCall) -> Any:
    """This node's workers for one attempt: rank 0's value when this pod holds rank 0;
    ``IgnoreOutputs`` on the other pods; the first failing rank's exception when one fails."""
    node = current_node(call.spec)
    assert node is not None, "run() is only routed here after join()"
    settings: ClusteredSettings = call.spec.plugin_config
    settings.check_gpus(call.spec.resources)
    with tempfile.TemporaryDirectory(prefix="flyte-clustered-pod-") as folder:
        root = Path(folder)
        (root / "call.pkl").write_bytes(shipping.dumps_call(call.function, call.inputs, by_file=True))
        (root / "context.pkl").write_bytes(shipping.dumps_context(call.context))
        round_dir = root / "round"
        round_dir.mkdir()
        env = node_env(call.environ, settings, node)
        procs = _launch._Round(round_dir)
        try:
            if _launch._uses_torchrun(settings):
                code = await _torchrun(procs, settings, node, [folder, str(round_dir)], env)
            else:
                code = await _launch._direct_node(procs, settings, node.node_rank, [folder, str(round_dir)], env)
        finally:
            await procs.stop()  # nothing of the node outlives the attempt
        if code != 0:
            raise _launch._failure(call.spec.name, round_dir, procs.failures)
        if (round_dir / "result.pkl").exists():
            return _launch._result(call.spec.name, round_dir)
    raise IgnoreOutputs(f"{call.spec.name}: node {node.node_rank} does not hold rank 0")


def node_env(environ: Mapping[str, str], settings: ClusteredSettings, node: PodNode) -> dict[str, str]:
    """What every worker of this node gets: the task's environment (env vars, secrets) and the
    torchrun contract for this node."""
    env = dict(environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # a worker's prints show before it dies
    if settings.nproc_per_node > 1:
        env.setdefault("OMP_NUM_THREADS", "1")  # as torchrun: N workers must not oversubscribe
    per_attempt = settings.failure_policy.max_restarts + 1
    env.update(
        NNODES=str(node.nnodes),
        GROUP_WORLD_SIZE=str(node.nnodes),
        WORLD_SIZE=str(node.nnodes * node.nproc_per_node),
        LOCAL_WORLD_SIZE=str(node.nproc_per_node),
        NODE_RANK=str(node.node_rank),
        GROUP_RANK=str(node.node_rank),
        MASTER_ADDR=node.master_addr,
        MASTER_PORT=str(node.master_port),
        JOBSET_RESTART_ATTEMPT=str(node.restart_count % per_attempt),
    )
    return env


async def _torchrun(
    procs: _launch._Round, settings: ClusteredSettings, node: PodNode, args: list[str], env: dict
) -> int:
    """torch's launcher for this node, rendezvousing on node 0; its exit status."""
    runtime = settings.runtime
    assert isinstance(runtime, TorchRun)
    backend = node.rdzv_backend or runtime.rdzv_backend
    launcher = [
        f"--nnodes={node.nnodes}",
        f"--nproc-per-node={node.nproc_per_node}",
        f"--max-restarts={runtime.max_restarts}",
        f"--rdzv-backend={backend}",
    ]
    if backend == "static":
        launcher += [
            f"--node-rank={node.node_rank}",
            f"--master-addr={node.master_addr}",
            f"--master-port={node.master_port}",
        ]
    else:  # c10d: node 0 hosts the store; a JobSet restart is a new rendezvous
        launcher += [
            f"--rdzv-endpoint={node.master_addr}:{node.master_port}",
            f"--rdzv-id={node.jobset}-{node.restart_count}",
            f"--rdzv-conf=is_host={'true' if node.node_rank == 0 else 'false'}",
        ]
    agent_env = dict(env)
    # Workers of each in-node restart get a store of their own (see the local launcher).
    agent_env.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR"):
        agent_env.pop(name, None)  # torchrun sets each worker's own
    proc = await procs.start(
        ["-m", _launch.AGENT, args[1], str(node.node_rank), *launcher, "-m", _launch.WORKER, *args], agent_env
    )
    code = await proc.wait()
    report = procs.round_dir / f"agent-{node.node_rank}.json"  # ranks that failed without an exception
    if code != 0:
        seen = json.loads(report.read_text()) if report.exists() else []
        procs.failures.extend(
            seen or [{"node": node.node_rank, "rank": None, "exitcode": code, "message": "torchrun failed"}]
        )
    return code
