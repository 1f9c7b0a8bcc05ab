"""``flyte.models``: the reference SDK's shared types that user code imports (``ActionPhase``,
``TaskContext``, ``CheckpointPaths``, and for connector tasks ``NativeInterface`` and
``SerializationContext``)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import pathlib
from collections.abc import Mapping
from typing import Any, ClassVar

from flyte._phase import Phase
from flyte._task_context import ActionID, CheckpointPaths, TaskContext

__all__ = ["ActionID", "ActionPhase", "CheckpointPaths", "NativeInterface", "SerializationContext", "TaskContext"]


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


class _HasDefault:
    """Marks an input whose default exists but is not known here (the reference SDK's remote
    tasks); such an input is required locally."""


@dataclasses.dataclass
class NativeInterface:
    """A task's inputs and outputs by name, as a ``flyte.extend.TaskTemplate`` declares them.

    ``inputs``: input name -> ``(type, default)``; the default ``inspect.Parameter.empty`` means
    required (any other value, None included, is the default). ``outputs``: output name -> type
    (none: the task returns nothing; one: it returns that value; several: a tuple in this order).
    """

    inputs: dict[str, tuple[Any, Any]]
    outputs: dict[str, Any]
    docstring: Any = None

    has_default: ClassVar[type] = _HasDefault

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, Mapping):
            raise TypeError(
                f"NativeInterface.inputs: {self.inputs!r} is not accepted "
                "(a dict of input name -> (type, default), e.g. {'day': (str, inspect.Parameter.empty)})"
            )
        for name, entry in self.inputs.items():
            if not isinstance(name, str) or not isinstance(entry, tuple) or len(entry) != 2:
                raise TypeError(
                    f"NativeInterface.inputs[{name!r}]: {entry!r} is not accepted (a (type, default) pair; "
                    "default inspect.Parameter.empty for a required input)"
                )
        if not isinstance(self.outputs, Mapping) or not all(isinstance(n, str) for n in self.outputs):
            raise TypeError(
                f"NativeInterface.outputs: {self.outputs!r} is not accepted (a dict of output name -> type, "
                "e.g. {'result': str})"
            )
        self.inputs, self.outputs = dict(self.inputs), dict(self.outputs)

    @classmethod
    def from_types(cls, inputs: Mapping[str, tuple[Any, Any]], outputs: Mapping[str, Any]) -> NativeInterface:
        return cls(dict(inputs), dict(outputs))

    def has_outputs(self) -> bool:
        return bool(self.outputs)

    def required_inputs(self) -> list[str]:
        return [name for name, (_, default) in self.inputs.items() if _required(default)]

    def num_required_inputs(self) -> int:
        return len(self.required_inputs())


def _required(default: Any) -> bool:
    return default is inspect.Parameter.empty or default is _HasDefault


@dataclasses.dataclass
class SerializationContext:
    """What a ``flyte.extend.TaskTemplate``'s ``custom_config(sctx)`` is told about where the
    task is being prepared (locally: the project and domain of ``flyte.init``)."""

    version: str
    project: str | None = None
    domain: str | None = None
    org: str | None = None
    code_bundle: Any = None
    input_path: str = "{{.input}}"
    output_path: str = "{{.outputPrefix}}"
    interpreter_path: str = "/opt/venv/bin/python"
    image_cache: Any = None
    root_dir: pathlib.Path | None = None
