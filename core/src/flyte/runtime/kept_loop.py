"""An event loop kept by one thread between the runs it runs, as if each had its own.

``asyncio.run`` makes a new loop for each coroutine (a selector and a self-pipe: three file
descriptors, opened and closed again), which costs more than the rest of a trivial run on its
thread. A :class:`KeptLoop` keeps one ``asyncio.Runner`` instead, and keeps its loop for the
next run only when the run left nothing on it: no task, callback, timer, async generator,
default executor or watched file, and the loop's settings as the run found them. Otherwise the
loop is closed as ``asyncio.run`` closes it (leftover tasks cancelled and awaited, async
generators closed, the executor shut down), and the next run gets a new one. Each run gets a
new, empty context, as with ``asyncio.run`` in a new thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class KeptLoop:
    """One thread's loop, kept between the coroutines :meth:`run` runs there."""

    def __init__(self) -> None:
        self._runner: asyncio.Runner | None = None
        # The loop's settings as made, which a run may change (the next run must not see it).
        self._debug = False

    def run(self, main: Coroutine[Any, Any, T], left_behind: Callable[[], bool] | None = None) -> T:
        """Run ``main`` to completion, as ``asyncio.run(main)`` would on this thread.

        ``left_behind()``, asked after the run: whether the caller knows of something of the
        run's still going that may use the loop later (threads that hold it); the loop is then
        closed rather than kept."""
        runner = self._runner
        # Checked whole when the last run ended (_reusable); since, only a callback another
        # thread scheduled (a late one of that run) can have reached the idle loop. It never
        # runs, as on the closed loop asyncio.run would have left.
        if runner is not None and runner.get_loop()._ready:  # type: ignore[attr-defined]
            self._runner = None
            runner.get_loop().close()
            runner = None
        if runner is None:
            runner = self._runner = asyncio.Runner()
            self._debug = runner.get_loop().get_debug()
        try:
            return runner.run(main, context=contextvars.Context())
        finally:
            if (left_behind is not None and left_behind()) or not self._reusable(runner.get_loop()):
                self.close()

    def close(self) -> None:
        """Close the loop as ``asyncio.run`` does at its end (a no-op without one)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(RuntimeError):  # still marked running: interrupted inside it
                runner.close()

    def _reusable(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether ``loop`` holds nothing of an earlier run and has the settings it was made
        with. Reads the loop's private queues (CPython's ``BaseEventLoop``, unchanged from 3.8
        to 3.13): no public API says whether a loop has callbacks or timers pending; a loop
        without them (another implementation) is never kept."""
        try:
            ready, timers, generators = loop._ready, loop._scheduled, loop._asyncgens  # type: ignore[attr-defined]
            executor, watched = loop._default_executor, loop._selector.get_map()  # type: ignore[attr-defined]
        except AttributeError:
            return False
        return (
            not loop.is_closed()
            and not ready
            and not timers
            and not generators
            and executor is None
            and len(watched) == 1  # the loop's own self-pipe
            and loop.get_task_factory() is None
            and loop.get_exception_handler() is None
            and loop.get_debug() == self._debug
            and not asyncio.all_tasks(loop)
        )
