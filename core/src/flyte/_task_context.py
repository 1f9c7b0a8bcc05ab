"""``flyte.ctx()``: what a running task can learn about itself; ``flyte.custom_context``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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

    ``attempt`` counts from 1; ``mode`` is ``"local"`` (this process runs the run) or
    ``"remote"`` (a rendered container on a cluster). ``run_base_dir`` is where this run's
    ``flyte.io`` data goes; ``report`` is the task's report (``flyte.report``). ``data`` holds
    what the task's plugin provides it (``data["spark_session"]`` in a Spark task).
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

    def is_in_cluster(self) -> bool:
        return self.mode == "remote"

    @property
    def checkpoint(self) -> Checkpoint | None:
        """This attempt's checkpoint (:class:`flyte.Checkpoint`): ``load()`` what an earlier
        attempt of the task saved, ``save(...)`` progress for a later one. The same object for
        the whole attempt; None in a context built by hand."""
        if self._caller is None:
            return None
        from flyte._checkpoint import checkpoint_for

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


def ctx() -> TaskContext | None:
    """The context of the task running in this thread or coroutine, or None outside one."""
    action = current_caller.get()
    controller = getattr(action, "controller", None)
    if controller is None:
        return None
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
        data=_task_data(),
        caller=action,
    )


def _task_data() -> dict[str, Any]:
    data = current_task_data.get()
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
