"""Threads kept waiting for work: the pool that runs task bodies (:mod:`flyte.runtime.bodies`)
and the threads that runs' loops run on (:mod:`flyte.runtime.run_threads`).

A thread with nothing to do parks itself; a caller with work takes one (or starts a new
thread when none is idle); a thread that waited long enough retires, unless it was taken just
as it gave up (its work is on the way). None survive a fork, so none are kept across one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class IdleThreads(Generic[T]):
    """The idle threads of one kind in this process (each represented by its ``T``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[T] = []
        self._pid = os.getpid()

    def take(self) -> T | None:
        """An idle thread, no longer idle; None if there is none."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child inherits the list, not the threads
                self._idle, self._pid = [], os.getpid()
            return self._idle.pop() if self._idle else None

    def park(self, thread: T) -> None:
        """``thread`` waits for work."""
        with self._lock:
            self._idle.append(thread)

    def retire(self, thread: T) -> bool:
        """Whether ``thread`` may exit: True if it was still idle (it is removed), False if it
        was taken meanwhile."""
        with self._lock:
            if thread in self._idle:
                self._idle.remove(thread)
                return True
            return False

    def count(self, which: Callable[[T], bool] | None = None) -> int:
        """How many threads are idle (``which``: only those it accepts)."""
        with self._lock:
            return len(self._idle) if which is None else sum(1 for thread in self._idle if which(thread))
