"""``flyte.ctx()``: what a running task can learn about itself; ``flyte.custom_context``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from flyte._context import current_caller, current_custom_context, current_task_data

if TYPE_CHECKING:
    from flyte._checkpoint import Checkpoint


@attrs.frozen
class ActionID:
    """Which action this is: its ``name`` within run ``run_name``, and the scope it runs in."""

    name: str
    run_name: str
    project: str
    domain: str
    org: str | None = None


@attrs.frozen
class TaskContext:
    """The running task's context (``flyte.ctx()``; None outside a task).

    ``attempt`` counts from 1 (``attempt_number`` from 0, as the reference SDK's does);
    ``mode`` is ``"local"`` (this process runs the run) or ``"remote"`` (a rendered container on
    a cluster). ``run_base_dir`` is where this run's ``flyte.io`` data goes, ``output_path``
    this action's folder in it; ``report`` is the task's report (``flyte.report``). ``data``
    holds what the task's plugin provides it (``data["spark_session"]`` in a Spark task).
    ``run_start_time`` is when the run started (UTC); ``disable_run_cache`` whether the run
    neither reads nor writes the cache.
    """

    action: ActionID
    task_name: str
    environment: str
    attempt: int
    mode: str
    run_base_dir: str
    raw_data_path: str
    report: Any = None
    custom_context: dict[str, str] = attrs.field(factory=dict)
    data: dict[str, Any] = attrs.field(factory=dict)
    _caller: Any = attrs.field(default=None, repr=False, eq=False)  # the running action
    run_start_time: datetime | None = None
    disable_run_cache: bool = False
    # The reference SDK's fields with no local meaning: a local run has no deployed version, no
    # input file (inputs are handed over in memory) and no notebook mode.
    version: str = ""
    input_path: str | None = None
    interactive_mode: bool = False

    def is_in_cluster(self) -> bool:
        return self.mode == "remote"

    @property
    def attempt_number(self) -> int:
        """This attempt's number counting from 0 (the first attempt is 0, its first retry 1)."""
        return self.attempt - 1

    @property
    def output_path(self) -> str:
        """This action's folder in the run's storage (``run_base_dir``)."""
        return f"{self.run_base_dir}/{self.action.name}"

    @property
    def task_action(self) -> ActionID:
        """The action of the task running here (the reference SDK's name; the same as ``action``)."""
        return self.action

    # -- a clustered worker's place (flyte.clustered) ---------------------------------------
    # Read from the torchrun environment contract, which the clustered launcher (torchrun, or
    # the direct launcher for JaxRun) sets in every worker; None in any other task.

    @property
    def rank(self) -> int | None:
        """This worker's global rank, 0 to ``world_size - 1`` (``RANK``)."""
        return _env_int("RANK")

    @property
    def local_rank(self) -> int | None:
        """This worker's rank on its node: the GPU it should use (``LOCAL_RANK``)."""
        return _env_int("LOCAL_RANK")

    @property
    def world_size(self) -> int | None:
        """How many workers in all: ``replicas * nproc_per_node`` (``WORLD_SIZE``)."""
        return _env_int("WORLD_SIZE")

    @property
    def local_world_size(self) -> int | None:
        """How many workers on this node: ``nproc_per_node`` (``LOCAL_WORLD_SIZE``)."""
        return _env_int("LOCAL_WORLD_SIZE")

    @property
    def node_rank(self) -> int | None:
        """This node's index, 0 to ``nnodes - 1`` (``NODE_RANK``)."""
        return _env_int("NODE_RANK")

    @property
    def nnodes(self) -> int | None:
        """How many nodes: the environment's ``replicas`` (``NNODES``)."""
        return _env_int("NNODES")

    @property
    def master_addr(self) -> str | None:
        """The address of the rendezvous master, node 0 (``MASTER_ADDR``)."""
        return os.environ.get("MASTER_ADDR")

    @property
    def master_port(self) -> int | None:
        """The rendezvous master's port (``MASTER_PORT``)."""
        return _env_int("MASTER_PORT")

    @property
    def restart_attempt(self) -> int | None:
        """How many times the whole set of nodes has started over within this attempt
        (``ClusterFailurePolicy.max_restarts``), from 0 (``JOBSET_RESTART_ATTEMPT``)."""
        return _env_int("JOBSET_RESTART_ATTEMPT")

    @property
    def checkpoint(self) -> Checkpoint | None:
        """This attempt's checkpoint (:class:`flyte.Checkpoint`): ``load()`` what an earlier
        attempt of the task saved, ``save(...)`` progress for a later one. The same object for
        the whole attempt; None in a context built by hand."""
        from flyte._checkpoint import CHECKPOINT_DATA_KEY, checkpoint_for

        if self._caller is None:  # a context shipped to a worker process carries its checkpoint
            return self.data.get(CHECKPOINT_DATA_KEY)

        return checkpoint_for(self, root=getattr(self._caller, "depth", None) == 0)

    @property
    def checkpoint_paths(self) -> CheckpointPaths | None:
        """Where this attempt's checkpoint goes and where the one it would load is."""
        checkpoint = self.checkpoint
        if checkpoint is None:
            return None
        source, destination = checkpoint.remote_source, checkpoint.remote_destination
        return CheckpointPaths(prev_checkpoint_path=source, checkpoint_path=destination)


@attrs.frozen
class CheckpointPaths:
    """The storage folders of an attempt's checkpoint (``checkpoint_path``) and of the earlier
    attempt's one it loads (``prev_checkpoint_path``, None if no earlier attempt saved one)."""

    prev_checkpoint_path: str | None
    checkpoint_path: str | None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


# The context of the task whose body this whole process runs for another one (a clustered
# worker): what ``ctx()`` returns where no action of this process is running.
_process_context: TaskContext | None = None


def enter_process_context(context: TaskContext) -> None:
    """Make ``context`` this process's task context (a worker process started to run one task
    body, e.g. by :mod:`flyte.clustered`)."""
    global _process_context
    _process_context = context


def ctx() -> TaskContext | None:
    """The context of the task running in this thread or coroutine, or None outside one."""
    action = current_caller()
    controller = getattr(action, "controller", None)
    if controller is None:
        return _process_context
    return context_of(action)


def context_of(action: Any, data: dict[str, Any] | None = None) -> TaskContext:
    """The context of ``action``, a running action of this process's controller (``data``: its
    task-context data, when it is not the running one's)."""
    controller = action.controller
    from flyte.storage._paths import storage_root

    settings = controller.settings
    base = f"{storage_root().rstrip('/')}/{controller.run_name}"
    return TaskContext(
        action=ActionID(name=action.id, run_name=controller.run_name, project=settings.project, domain=settings.domain),
        task_name=action.spec.name,
        environment=action.spec.env_name,
        attempt=max(action.attempt, 1),
        mode="remote" if settings.secret_source == "environment" else "local",
        run_base_dir=base,
        raw_data_path=f"{base}/data",
        report=action.report,
        custom_context=get_custom_context(),
        data=_task_data() if data is None else data,
        caller=action,
        run_start_time=datetime.fromtimestamp(controller.started_at, UTC),
        disable_run_cache=controller.disable_cache,
    )


def _task_data() -> dict[str, Any]:
    data = current_task_data()
    return {} if data is None else data


@contextlib.contextmanager
def custom_context(**values: str) -> Iterator[None]:
    """Make ``values`` visible to the tasks called inside the block (``flyte.ctx().custom_context``
    and ``flyte.get_custom_context()``); nested blocks add to and override outer ones."""
    for key, value in values.items():
        if not isinstance(value, str):
            raise TypeError(f"flyte.custom_context: {key}={value!r} is not valid (accepted: str values)")
    token = current_custom_context.set({**get_custom_context(), **values})
    try:
        yield
    finally:
        current_custom_context.reset(token)


def get_custom_context() -> dict[str, str]:
    """The values of the enclosing ``flyte.custom_context`` blocks (a copy)."""
    return dict(current_custom_context.get() or {})
