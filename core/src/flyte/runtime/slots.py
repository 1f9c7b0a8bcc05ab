"""A concurrency cap that works across event loops and threads.

The controller's loop and the short-lived loops that run a sync task called from async code
share one cap, so the slots are guarded by a thread lock and waiters are woken on their own
loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque


class Slots:
    """At most ``limit`` holders at once (no limit when None)."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def used(self) -> int:
        return self._used

    async def acquire(self, timeout: float | None = None) -> None:
        """Wait for a slot; ``TimeoutError`` after ``timeout`` seconds."""
        if self.limit is None:
            return
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._used < self.limit and not self._waiters:
                self._used += 1
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, fut))
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except (TimeoutError, asyncio.CancelledError):
            with self._lock:
                if (loop, fut) in self._waiters:
                    self._waiters.remove((loop, fut))
                    fut.cancel()
                    raise
            # The slot was handed to us as we gave up: pass it on.
            self._hand_back(fut)
            raise

    def _hand_back(self, fut: asyncio.Future[None]) -> None:
        if fut.done() and not fut.cancelled():
            self.release()
        else:
            fut.add_done_callback(lambda f: None if f.cancelled() else self.release())

    def release(self) -> None:
        if self.limit is None:
            return
        with self._lock:
            while self._waiters:
                loop, fut = self._waiters.popleft()
                if fut.done():
                    continue
                loop.call_soon_threadsafe(_grant, fut, self)
                return  # the slot moves to the waiter; the count stays
            self._used -= 1


def _grant(fut: asyncio.Future[None], slots: Slots) -> None:
    if fut.cancelled():
        slots.release()
    else:
        fut.set_result(None)
