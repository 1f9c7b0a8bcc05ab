"""The current run, if any: where a task call inside a running task is sent.

Kept in a light module (a ContextVar and nothing else) so the task object can ask for it
without importing the runtime.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol


class Caller(Protocol):
    """What a running task's context offers a nested task call (implemented by the runtime)."""

    def call(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...


current_caller: ContextVar[Caller | None] = ContextVar("flyte_current_caller", default=None)

# The name of the innermost ``flyte.group(...)`` block: recorded on the actions started in it.
current_group: ContextVar[str | None] = ContextVar("flyte_current_group", default=None)

# Values set with ``flyte.custom_context(...)``: visible to the tasks called inside the block.
current_custom_context: ContextVar[dict[str, str] | None] = ContextVar("flyte_custom_context", default=None)
