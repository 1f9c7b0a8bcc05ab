"""``ClusteredTaskEnvironment``: a ``TaskEnvironment`` whose tasks run on a set of nodes at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flyte._validation import invalid
from flyte.clustered.config import ClusteredSettings, ClusterFailurePolicy, Runtime, TorchRun
from flyte.environment import TaskEnvironment, clone_changes


class ClusteredTaskEnvironment(TaskEnvironment):
    """A ``TaskEnvironment`` whose tasks run once in every worker of a gang: ``replicas`` nodes
    × ``nproc_per_node`` processes, wired up as ``torchrun`` does (``RANK``, ``LOCAL_RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``, ...), so the body can call
    ``torch.distributed.init_process_group()`` and train with DDP, FSDP or Lightning's ``"ddp"``.
    The task's output is rank 0's return value; ``flyte.ctx()`` tells each worker its place.

    Takes every ``TaskEnvironment`` setting (image, resources, env_vars, secrets, ...) except
    ``reusable`` (the gang is made fresh for every attempt) and ``plugin_config`` (the clustered
    fields below are it).

    - ``replicas``: nodes (pods on Kubernetes, simulated nodes on this machine). Required, >= 1.
    - ``nproc_per_node``: worker processes per node, typically one per GPU; at most
      ``resources.gpu`` when GPUs are requested. Required, >= 1 (exactly 1 with ``JaxRun``).
    - ``runtime``: ``TorchRun()`` (default) or ``JaxRun()``.
    - ``interconnect``: the network between nodes; only ``"tcp"``.
    - ``failure_policy``: ``ClusterFailurePolicy``: whole-set restarts within one attempt.
    - ``ttl_seconds_after_finished``: how long Kubernetes keeps the finished JobSet.

    Restarts, innermost first: ``TorchRun.max_restarts`` (a node's agent restarts its
    workers), ``failure_policy.max_restarts`` (every node starts over, ``restart_attempt``
    counts), then the task's ``retries`` (a new attempt).

    Locally every node is a group of processes on this machine talking over loopback; on
    Kubernetes the set renders as a JobSet.
    """

    __slots__ = ()

    def __init__(
        self,
        name: str,
        *,
        replicas: int,
        nproc_per_node: int,
        runtime: Runtime | None = None,
        interconnect: str = "tcp",
        failure_policy: ClusterFailurePolicy | None = None,
        ttl_seconds_after_finished: int | None = None,
        depends_on: Iterable[TaskEnvironment] | None = None,
        **settings: Any,
    ):
        if "plugin_config" in settings:
            invalid(
                "plugin_config",
                settings["plugin_config"],
                "replicas=, nproc_per_node=, runtime=, ... on ClusteredTaskEnvironment",
                "cannot be set on a ClusteredTaskEnvironment",
            )
        if settings.get("reusable") is not None:
            invalid(
                "reusable",
                settings["reusable"],
                "None",
                "is not possible on a ClusteredTaskEnvironment: its workers are started fresh for every attempt",
            )
        clustered = ClusteredSettings(
            replicas=replicas,
            nproc_per_node=nproc_per_node,
            runtime=TorchRun() if runtime is None else runtime,
            interconnect=interconnect,
            failure_policy=ClusterFailurePolicy() if failure_policy is None else failure_policy,
            ttl_seconds_after_finished=ttl_seconds_after_finished,
        )
        super().__init__(name, depends_on=depends_on, plugin_config=clustered, **settings)
        clustered.check_gpus(self._settings.get("resources"))

    @property
    def clustered(self) -> ClusteredSettings:
        """The snapshot every task of this environment carries as its ``plugin_config``."""
        return self._settings["plugin_config"]

    @property
    def replicas(self) -> int:
        return self.clustered.replicas

    @property
    def nproc_per_node(self) -> int:
        return self.clustered.nproc_per_node

    @property
    def runtime(self) -> Runtime:
        return self.clustered.runtime

    @property
    def interconnect(self) -> str:
        return self.clustered.interconnect

    @property
    def failure_policy(self) -> ClusterFailurePolicy:
        return self.clustered.failure_policy

    @property
    def ttl_seconds_after_finished(self) -> int | None:
        return self.clustered.ttl_seconds_after_finished

    def __repr__(self) -> str:
        return (
            f"ClusteredTaskEnvironment(name={self.name!r}, replicas={self.replicas}, "
            f"nproc_per_node={self.nproc_per_node})"
        )

    def clone_with(
        self, name: str, depends_on: Iterable[TaskEnvironment] | None = None, **changes: Any
    ) -> ClusteredTaskEnvironment:
        """A new clustered environment with this one's settings, some replaced (clustered
        fields such as ``replicas`` included); one passed as None keeps its value."""
        settings = {k: v for k, v in self._settings.items() if k != "plugin_config"}
        clustered = {f: getattr(self.clustered, f) for f in _CLUSTERED_FIELDS}
        merged = {**settings, **clustered, **clone_changes(changes)}
        deps = self.depends_on if depends_on is None else depends_on
        return ClusteredTaskEnvironment(name, depends_on=deps, **merged)


_CLUSTERED_FIELDS = (
    "replicas",
    "nproc_per_node",
    "runtime",
    "interconnect",
    "failure_policy",
    "ttl_seconds_after_finished",
)
