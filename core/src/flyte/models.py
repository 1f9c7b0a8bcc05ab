"""``flyte.models``: the reference SDK's shared types that user code imports (``ActionPhase``,
``TaskContext``, ``CheckpointPaths``)."""

from __future__ import annotations

import enum

from flyte._phase import Phase
from flyte._task_context import ActionID, CheckpointPaths, TaskContext

__all__ = ["ActionID", "ActionPhase", "CheckpointPaths", "TaskContext"]


class ActionPhase(enum.StrEnum):
    """The phase of an action or run, as the reference SDK names it (``ActionPhase.FAILED ==
    "failed"``). Notifications (:mod:`flyte.notify`) fire on the terminal ones."""

    QUEUED = "queued"
    WAITING_FOR_RESOURCES = "waiting_for_resources"
    INITIALIZING = "initializing"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    RECOVERED = "recovered"

    # A recorded phase (flyte.remote's Run.phase, "FAILED") equals its member in either order:
    # str's comparison would say 'failed' != 'FAILED' before Phase's own __eq__ is asked.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Phase):
            return NotImplemented
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Phase):
            return NotImplemented
        return str.__ne__(self, other)

    __hash__ = str.__hash__

    @property
    def is_terminal(self) -> bool:
        """Whether an action in this phase has ended (it never changes phase again)."""
        return self in _TERMINAL

    def to_protobuf_name(self) -> str:
        """The Flyte IDL enum name, e.g. ``ACTION_PHASE_QUEUED``."""
        return f"ACTION_PHASE_{self.value.upper()}"


_TERMINAL = frozenset(
    {ActionPhase.SUCCEEDED, ActionPhase.FAILED, ActionPhase.ABORTED, ActionPhase.TIMED_OUT, ActionPhase.RECOVERED}
)
