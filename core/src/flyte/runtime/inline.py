"""Running an action to its end on the caller's own thread, without handing it to a loop.

A sync task called from a sync body (or from async code, which blocks while a sync call runs)
has a caller with nothing else to do until it returns. Handing the child to the run's loop and
its body back to the caller's thread costs four thread hand-offs per call, each a GIL
hand-off and a loop wake-up; instead the caller's thread steps the action's coroutine itself.
It usually ends without ever suspending (its records are in-memory changes, its body a plain
call); when it does suspend (a retry's back-off, a value converted on a worker thread), the
thread runs a private event loop of its own until the awaited future is done, then steps on.

Only plain sync tasks run this way (:func:`eligible`): a time limit, a plugin's runner, a
concurrency cap or a serialized cache entry needs the action's loop, and keeps the thread path.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from flyte.connector_task import ConnectorTask
from flyte.runtime.bodies import new_loop

# The running-loop slot asyncio reads (get_running_loop) and sets (run_until_complete); the
# body must see no running loop, as on a thread of its own, and the coroutine the private one.
_get_running_loop = asyncio.events._get_running_loop
_set_running_loop = asyncio.events._set_running_loop


def eligible(task: Any, slot_limit: int | None) -> bool:
    """Whether a call of ``task`` may run on its caller's thread: a sync task with no time
    limit, no plugin, no pool, no concurrency cap and no serialized cache entry."""
    if task.is_async or slot_limit is not None or isinstance(task, ConnectorTask):
        return False
    spec = task.spec
    if spec.plugin_config is not None or spec.timeout is not None or spec.reusable is not None:
        return False  # (a reusable task runs on its pool's worker: runtime.pool)
    return not (spec.cache.enabled and spec.cache.serialize)


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to its end on this thread and return its result (raise its error)."""
    return contextvars.copy_context().run(_step_through, coro)


def _step_through(coro: Coroutine[Any, Any, Any]) -> Any:
    outer = _get_running_loop()  # the caller's loop (async caller), blocked while this runs
    loop = _private_loop()
    while True:
        _set_running_loop(loop)
        try:
            awaited = coro.send(None)
        except StopIteration as stop:
            return stop.value
        finally:
            _set_running_loop(outer)
        if awaited is None:  # a bare yield (asyncio.sleep(0)): step again
            continue
        awaited._asyncio_future_blocking = False  # what a Task does before it waits
        if not awaited.done():
            real = loop.real()
            _set_running_loop(None)
            try:
                real.run_until_complete(_settled(awaited, real.create_future()))
            finally:
                _set_running_loop(outer)


def _settled(awaited: asyncio.Future[Any], done: asyncio.Future[None]) -> asyncio.Future[None]:
    """``done``, resolved when ``awaited`` is (whatever its outcome: the coroutine reads it)."""
    awaited.add_done_callback(lambda _: done.done() or done.set_result(None))
    return done


def without_loop(call: Callable[[], Any]) -> Any:
    """``call()`` with no running loop on this thread: a sync body driven here sees none, as on
    a thread of its own (its nested calls take the sync path)."""
    current = _get_running_loop()
    _set_running_loop(None)
    try:
        return call()
    finally:
        _set_running_loop(current)


class _LazyLoop:
    """This thread's private loop, created on first use: most actions driven here never touch
    it, and a loop holds three file descriptors (a run may have a thousand sync bodies)."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def real(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = new_loop("a sync task's nested call")
        return self._loop

    def __getattr__(self, name: str) -> Any:  # what the coroutine asks of "the running loop"
        return getattr(self.real(), name)

    def __del__(self) -> None:  # the thread ended
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()


_local = threading.local()


def _private_loop() -> _LazyLoop:
    loop = getattr(_local, "loop", None)
    if loop is None:
        loop = _local.loop = _LazyLoop()
    return loop
