"""``flyte.trace``: record calls of a helper function inside a task as steps of the run."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flyte._context import current_caller, current_group

F = TypeVar("F", bound=Callable[..., Any])


def trace(func: F) -> F:
    """Decorate a function (sync, async, or an async generator) called inside tasks: each call
    is recorded in the run as a child step of the calling task, with its inputs, output or
    error and timings (``flyte runs show`` lists it as ``trace:<name>``). Outside a task the
    function runs as usual. Exceptions propagate unchanged.
    """
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            step = _Step.start(func, args, kwargs)
            produced = 0
            try:
                async for item in func(*args, **kwargs):
                    produced += 1
                    yield item
            except BaseException as exc:
                step.end(error=exc)
                raise
            step.end(result=f"<{produced} item(s)>")

        return agen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            step = _Step.start(func, args, kwargs)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                step.end(error=exc)
                raise
            step.end(result=result)
            return result

        return async_wrapper  # type: ignore[return-value]

    if not callable(func):
        raise TypeError(f"flyte.trace: {func!r} is not a function")

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        step = _Step.start(func, args, kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            step.end(error=exc)
            raise
        step.end(result=result)
        return result

    return sync_wrapper  # type: ignore[return-value]


class _Step:
    """One traced call's row in the run store (nothing when no task is running)."""

    __slots__ = ("controller", "id")

    def __init__(self, controller: Any, id: str) -> None:
        self.controller = controller
        self.id = id

    @classmethod
    def start(cls, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Step:
        action = current_caller()
        controller = getattr(action, "controller", None)
        if controller is None:
            return cls(None, "")
        from flyte.runtime import store as st
        from flyte.runtime.redact import redact

        try:
            bound = inspect.signature(func).bind(*args, **kwargs)
            inputs = dict(bound.arguments)
        except (TypeError, ValueError):
            inputs = {"args": list(args), **kwargs}
        now = time.time()
        # In a reusable environment's worker the controller relays this to the pool's process.
        ident = controller.start_step(
            action.id,
            task=f"trace:{func.__module__}.{func.__qualname__}",
            short_name=func.__name__,
            status=st.RUNNING,
            attempts=1,
            queued_at=now,
            started_at=now,
            inputs=st.preview(_text(inputs)),
            grp=None if (group := current_group.get()) is None else redact(group),  # secrets masked
        )
        return cls(controller, ident)

    def end(self, result: Any = None, error: BaseException | None = None) -> None:
        if self.controller is None:
            return
        from flyte.runtime import store as st

        fields: dict[str, Any] = {"ended_at": time.time()}
        if error is None:
            fields.update(status=st.SUCCEEDED, outputs=st.preview(_text(result)))
        else:
            fields.update(status=st.FAILED, error=st.preview(f"{type(error).__name__}: {error}"))
        self.controller.end_step(self.id, **fields)


def _text(value: Any) -> str:
    from flyte import _codec

    try:
        return _codec.dumps(value)
    except Exception:  # not JSON-able: its repr is still worth recording
        return repr(value)
