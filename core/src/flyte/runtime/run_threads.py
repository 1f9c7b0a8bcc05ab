"""The threads that runs' event loops run on, kept between runs.

``flyte.run`` runs each run on a loop of its own in a thread of its own, so it works from sync
code, from inside a running loop and from a task of another run alike. Starting a thread costs
more than the rest of a trivial run's start (the caller waits for the new thread to be
scheduled; on a busy machine that is a wait for a time slice), so a thread whose run has ended
waits for the next one instead of exiting. It keeps its event loop too (:mod:`.kept_loop`):
a new loop costs more than the rest of a trivial run on its thread, and a run that left
something on it (a task, a callback, a timer, an async generator) closes it, so nothing a run
left reaches the next.

A thread started inside a task attempt is bound to that attempt's log
(:mod:`flyte.runtime.logs`); a run started there gets a new thread, as before, so a kept
thread is never bound to an attempt.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from flyte.runtime.idle_threads import IdleThreads
from flyte.runtime.kept_loop import KeptLoop

logger = logging.getLogger("flyte.runtime.run_threads")

# How long a kept thread waits for another run before it exits (a process that ran a burst of
# runs does not keep threads for its whole life).
IDLE_EXIT = 10.0

T = TypeVar("T")
_here = threading.local()  # loop: the KeptLoop of this thread, if it is a kept run thread


class _RunThread:
    """One kept thread: runs the jobs put to it, one at a time."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def main(self) -> None:
        _here.loop = loop = KeptLoop()
        while True:
            try:
                job = self.jobs.get(timeout=IDLE_EXIT)
            except queue.Empty:
                if _kept.retire(self):
                    loop.close()
                    return
                continue  # taken for a run just now: its job is on the way
            try:
                contextvars.Context().run(job)  # as in a new thread: no context variable set
            except BaseException:  # a job reports its own outcome; this is a bug in flyte
                logger.exception("flyte: a run's thread failed")
            _kept.park(self)


# The idle threads of this process.
_kept: IdleThreads[_RunThread] = IdleThreads()


def start(job: Callable[[], None], name: str, fresh: bool = False) -> None:
    """Run ``job`` on a kept thread, or a new one (named ``name``) if none is idle or ``fresh``
    (a new thread that is not kept afterwards)."""
    if fresh:
        threading.Thread(target=job, name=name, daemon=True).start()
        return
    thread = _kept.take()
    if thread is None:
        thread = _RunThread()
        threading.Thread(target=thread.main, name="flyte-run", daemon=True).start()
    thread.jobs.put(job)


def run(main: Coroutine[Any, Any, T], left_behind: Callable[[], bool] | None = None) -> T:
    """Run ``main`` to completion as ``asyncio.run(main)`` does: on a kept thread, on its kept
    loop (closed instead of kept when the run left something on it, or when ``left_behind()``
    says something of the run's may still use it); on any other thread, on a new loop."""
    loop: KeptLoop | None = getattr(_here, "loop", None)
    if loop is None:
        return asyncio.run(main)
    return loop.run(main, left_behind)


def idle() -> int:
    """How many kept threads wait for a run."""
    return _kept.count()
