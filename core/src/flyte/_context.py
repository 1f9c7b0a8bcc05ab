"""The current run, if any: where a task call inside a running task is sent.

Kept in a light module (context variables, and the reference SDK's ``internal_ctx()``) so the
task object can ask for it without importing the runtime.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol

import attrs


class Caller(Protocol):
    """What a running task's context offers a nested task call (implemented by the runtime)."""

    def call(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...


current_caller: ContextVar[Caller | None] = ContextVar("flyte_current_caller", default=None)

# The name of the innermost ``flyte.group(...)`` block: recorded on the actions started in it.
current_group: ContextVar[str | None] = ContextVar("flyte_current_group", default=None)

# Values set with ``flyte.custom_context(...)``: visible to the tasks called inside the block.
current_custom_context: ContextVar[dict[str, str] | None] = ContextVar("flyte_custom_context", default=None)

# The running attempt's task-context data (``TaskCall.data``): what its plugin handed the task.
current_task_data: ContextVar[dict[str, Any] | None] = ContextVar("flyte_task_data", default=None)


@attrs.frozen
class ContextData:
    """``internal_ctx().data``: ``task_context`` is :func:`flyte.ctx` (None outside a task)."""

    task_context: Any = None


@attrs.frozen
class InternalContext:
    """What :func:`internal_ctx` returns."""

    data: ContextData


def internal_ctx() -> InternalContext:
    """The reference SDK's spelling of the running task's context, kept so code written against it
    runs unchanged: ``internal_ctx().data.task_context`` is ``flyte.ctx()``, and its ``.data`` holds
    what the task's plugin put there (``internal_ctx().data.task_context.data["spark_session"]``).
    New code should call ``flyte.ctx()``."""
    from flyte._task_context import ctx

    return InternalContext(data=ContextData(task_context=ctx()))
