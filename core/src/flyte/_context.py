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


class BodyContext:
    """What the running task body's code sees through its context: the action it runs as (the
    caller of the tasks it calls: ``flyte.ctx()``, ``flyte.report``), its task-context data
    (``TaskCall.data``), its environment overlay (:mod:`flyte.runtime.environ`) and its
    attempt's log (:mod:`flyte.runtime.logs`); any of them None where it has none.

    One context variable for the four: a body's start sets one and its end resets one, where
    four variables cost four of each (each set copies part of the context's map: ~2.6k
    instructions, a reset ~1.5k; ~12% of a gathered child call). A value is never changed in
    place: a scope that changes one of them sets a new object (:meth:`but`)."""

    __slots__ = ("caller", "data", "environ", "log")

    def __init__(self, caller: Caller | None, data: dict[str, Any] | None, environ: Any, log: Any) -> None:
        self.caller = caller
        self.data = data
        self.environ = environ  # a dict the body's writes to os.environ go to, or None
        self.log = log

    def but(self, **changed: Any) -> BodyContext:
        """A copy with ``changed`` attributes (``log=...``, ``environ=...``)."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changed)
        return BodyContext(**values)


NO_BODY = BodyContext(None, None, None, None)  # outside any task body

current_body: ContextVar[BodyContext] = ContextVar("flyte_current_body", default=NO_BODY)


def current_caller() -> Caller | None:
    """The action whose body is running here (where a task call inside it is sent), or None."""
    return current_body.get().caller


def current_task_data() -> dict[str, Any] | None:
    """The running attempt's task-context data (``TaskCall.data``), or None outside a body."""
    return current_body.get().data


# The name of the innermost ``flyte.group(...)`` block: recorded on the actions started in it.
current_group: ContextVar[str | None] = ContextVar("flyte_current_group", default=None)

# Values set with ``flyte.custom_context(...)``: visible to the tasks called inside the block.
current_custom_context: ContextVar[dict[str, str] | None] = ContextVar("flyte_custom_context", default=None)


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
