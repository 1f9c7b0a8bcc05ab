"""The clustered settings: ``TorchRun``, ``JaxRun``, ``ClusterFailurePolicy`` and the snapshot
``ClusteredSettings`` that every task of a ``ClusteredTaskEnvironment`` carries as its
``plugin_config``.

Frozen value objects validated when they are made, so a bad value fails where it is written,
with the parameter, the value and what is accepted. Importing them imports neither torch nor jax.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from flyte._validation import invalid, positive_int, wrong_type

RDZV_BACKENDS = ("static", "c10d")
INTERCONNECTS = ("tcp",)


def _count(param: str, *, allow_zero: bool):
    def convert(value: Any) -> int:
        return positive_int(param, value, allow_zero=allow_zero)

    return convert


def _flag(param: str):
    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            wrong_type(param, value, "True or False")
        return value

    return convert


def _rdzv_backend(value: Any) -> str:
    if value not in RDZV_BACKENDS:
        invalid("TorchRun.rdzv_backend", value, ", ".join(repr(b) for b in RDZV_BACKENDS))
    return value


@attrs.frozen(kw_only=True)
class TorchRun:
    """Start the workers with ``torchrun`` (torch's elastic agent), one agent per node.

    ``rdzv_backend``: ``"static"`` (default) gives every node its rank up front and relies on
    whole-set restarts (``ClusterFailurePolicy``); ``"c10d"`` rendezvous through a TCP store on
    node 0, which lets a node's agent restart its workers and rejoin. ``max_restarts``: how many
    times a node's agent restarts its own workers before the node fails (in-node restarts, not
    to be confused with ``ClusterFailurePolicy.max_restarts``).
    """

    rdzv_backend: Literal["static", "c10d"] = attrs.field(default="static", converter=_rdzv_backend)
    max_restarts: int = attrs.field(default=0, converter=_count("TorchRun.max_restarts", allow_zero=True))


@attrs.frozen(kw_only=True)
class JaxRun:
    """Run JAX's multi-process layout: one Python process per node (``nproc_per_node`` must be
    1) that owns every local accelerator. No launcher binary: the workers get the same topology
    variables as under torchrun (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``, ...)
    and call :func:`flyte.clustered.jax_initialize` before any JAX computation; node 0 hosts the
    ``jax.distributed`` coordinator on ``MASTER_ADDR:MASTER_PORT``.
    """


Runtime = TorchRun | JaxRun


@attrs.frozen(kw_only=True)
class ClusterFailurePolicy:
    """How the set of nodes as a whole recovers from a failed worker.

    ``max_restarts``: how many times every node is started over, together, within one attempt
    of the task (``flyte.ctx().restart_attempt`` counts them, from 0); after that the attempt
    fails and the task's own ``retries`` apply. ``restart_on_host_maintenance``: on Kubernetes, a
    node eviction restarts the set without using ``max_restarts`` (locally nothing is evicted).
    """

    max_restarts: int = attrs.field(default=0, converter=_count("ClusterFailurePolicy.max_restarts", allow_zero=True))
    restart_on_host_maintenance: bool = attrs.field(
        default=False, converter=_flag("ClusterFailurePolicy.restart_on_host_maintenance")
    )


def _runtime(value: Any) -> Runtime:
    if not isinstance(value, (TorchRun, JaxRun)):
        wrong_type("runtime", value, "flyte.clustered.TorchRun() or flyte.clustered.JaxRun()")
    return value


def _interconnect(value: Any) -> str:
    if value not in INTERCONNECTS:
        invalid("interconnect", value, ", ".join(repr(i) for i in INTERCONNECTS))
    return value


def _failure_policy(value: Any) -> ClusterFailurePolicy:
    if not isinstance(value, ClusterFailurePolicy):
        wrong_type("failure_policy", value, "a flyte.clustered.ClusterFailurePolicy")
    return value


def _ttl(value: Any) -> int | None:
    return None if value is None else positive_int("ttl_seconds_after_finished", value, allow_zero=True)


@attrs.frozen(kw_only=True)
class ClusteredSettings:
    """The shape of a clustered task: ``replicas`` nodes × ``nproc_per_node`` worker processes.

    A ``ClusteredTaskEnvironment`` makes one and gives it to each of its tasks as their
    ``plugin_config``, so the task's spec, cache key, records and rendered objects all carry it;
    ``task.override(plugin_config=...)`` with another one reshapes a single call. The field names
    are those of ``ClusteredTaskEnvironment``.
    """

    replicas: int = attrs.field(converter=_count("replicas", allow_zero=False))
    nproc_per_node: int = attrs.field(converter=_count("nproc_per_node", allow_zero=False))
    runtime: Runtime = attrs.field(factory=TorchRun, converter=_runtime)
    interconnect: Literal["tcp"] = attrs.field(default="tcp", converter=_interconnect)
    failure_policy: ClusterFailurePolicy = attrs.field(factory=ClusterFailurePolicy, converter=_failure_policy)
    ttl_seconds_after_finished: int | None = attrs.field(default=None, converter=_ttl)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.runtime, JaxRun) and self.nproc_per_node != 1:
            invalid(
                "nproc_per_node",
                self.nproc_per_node,
                "1 with runtime=JaxRun()",
                "is not possible: JaxRun runs one process per node that owns every local device "
                "(restrict devices with jax_initialize(local_device_ids=...))",
            )

    @property
    def world_size(self) -> int:
        """How many worker processes in all: ``replicas * nproc_per_node``."""
        return self.replicas * self.nproc_per_node

    def check_gpus(self, resources: Any) -> None:
        """Refuse fewer GPUs per node than ``nproc_per_node`` (one process per GPU at most)."""
        device = getattr(resources, "device", None)
        if device is not None and device.quantity < self.nproc_per_node:
            invalid(
                "nproc_per_node",
                self.nproc_per_node,
                f"at most the GPUs each node requests (resources.gpu = {device.quantity})",
                "is more than the node's GPUs",
            )
