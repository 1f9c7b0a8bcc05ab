"""Engines shared by the tasks of one process, and kept warm for reusable environments.

A plugin whose tasks need an engine (a Ray runtime, a SparkSession, a Dask cluster) gets it
through one :class:`SharedEngine`, so every plugin has the same lifecycle:

- Tasks whose settings agree (the same ``key``) share one running engine, counted.
- An *exclusive* engine (one per process, as Ray and Spark allow) serves one key at a time: a
  task that needs other settings waits until the engine is free, then it is restarted.
  A non-exclusive engine keeps one instance per key.
- When the last user leaves, the engine stops, unless the task's environment is
  ``reusable``: then it stays up for the next task and stops after the policy's
  ``idle_ttl`` without users (this is what makes a second task of a reusable environment
  start warm).
- Start and stop run on one long-lived thread per engine: some engines tie their helper
  processes to the thread that started them (Linux PDEATHSIG), and a warm engine must
  outlive the run that started it. Whatever is still running at interpreter exit is
  stopped then.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from flyte.runtime import logs

logger = logging.getLogger("flyte.runtime.engines")

T = TypeVar("T")

# Used when a reusable environment's policy sets no idle_ttl: keep the engine an hour.
DEFAULT_KEEP_WARM = 3600.0

_all: list[SharedEngine[Any]] = []


def keep_warm_for(spec: Any) -> float | None:
    """How long a task's engine stays up without users: the reusable policy's ``idle_ttl``
    (seconds), or None (stop when the last task leaves) for a non-reusable environment."""
    policy = getattr(spec, "reusable", None)
    if policy is None or policy == "off":
        return None
    return policy.idle_ttl.total_seconds() if policy.idle_ttl else DEFAULT_KEEP_WARM


class _Ticket:
    """A user's request to enter; both fields change under the engine's lock."""

    __slots__ = ("entered", "given_up")

    def __init__(self) -> None:
        self.given_up = False
        self.entered: tuple[Any, bool] | None = None


class _Instance(Generic[T]):
    __slots__ = ("error", "handle", "idle_timer", "key", "ready", "users")

    def __init__(self, key: Hashable):
        self.key = key
        self.users = 0
        self.handle: T | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.idle_timer: threading.Timer | None = None


class SharedEngine(Generic[T]):
    """One engine per key (or one at a time, ``exclusive``), started by ``start(params)``
    and stopped by ``stop(handle)``; see the module docstring for the lifecycle.

    Use it from a plugin's runner::

        engine = SharedEngine("spark", start=_start_session, stop=_stop_session, exclusive=True)

        async def run(call):
            async with engine.use(key, params, keep_warm=keep_warm_for(call.spec)) as session:
                return await call.invoke()
    """

    def __init__(
        self,
        name: str,
        start: Callable[[Any], T],
        stop: Callable[[T], None],
        *,
        exclusive: bool = True,
    ):
        self.name = name
        self._start = start
        self._stop = stop
        self.exclusive = exclusive
        self._lock = threading.Condition()
        self._instances: dict[Hashable, _Instance[T]] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"flyte-{name}")
        # What the engine's threads and processes print goes to the log of the attempt using
        # it (when one attempt alone does; with several at once it reaches the terminal only).
        self.log_route = logs.Route()
        self.starts = 0  # how many times an engine was started (tests and benchmarks read it)
        _all.append(self)

    # -- the async API plugins use ---------------------------------------------------------
    @contextlib.asynccontextmanager
    async def use(self, key: Hashable, params: Any, keep_warm: float | None = None) -> AsyncIterator[T]:
        """Hold the engine for ``key`` (started with ``params`` if needed) for the block."""
        ticket = _Ticket()
        try:
            instance, must_start = await asyncio.shield(asyncio.to_thread(self._enter, key, ticket))
        except asyncio.CancelledError:
            # Cancelled while waiting (a timeout): stop the wait; if the thread got in first,
            # hand the place back so the engine is not held by nobody.
            with self._lock:
                ticket.given_up = True
                entered = ticket.entered
                self._lock.notify_all()
            if entered is not None:
                self._give_back(*entered, params)
            raise
        leaves_later = False
        mine = logs.current()
        with self._lock:
            alone = sum(i.users for i in self._instances.values()) == 1
        self.log_route.log = mine if alone else None
        try:
            if must_start:
                started = time.monotonic()
                start = self._thread.submit(self._start_instance, instance, params)
                try:
                    await asyncio.shield(asyncio.wrap_future(start))
                except asyncio.CancelledError:
                    if not start.done():
                        # Cancelled mid-start: leave once the start is over, so an engine that
                        # comes up for nobody is stopped instead of running on.
                        leaves_later = True
                        start.add_done_callback(lambda _: self._give_back(instance, False, params))
                    raise
                logger.info("%s engine started in %.2fs", self.name, time.monotonic() - started)
            else:
                await asyncio.to_thread(instance.ready.wait)
                if instance.error is not None:
                    raise instance.error
            assert instance.handle is not None
            yield instance.handle
        finally:
            if self.log_route.log is mine:
                self.log_route.log = None
            if not leaves_later:
                await asyncio.to_thread(self._leave, instance, keep_warm)

    def running(self, key: Hashable) -> T | None:
        """The running engine for ``key``, if any (for plugins that look it up in a task)."""
        with self._lock:
            instance = self._instances.get(key)
            return instance.handle if instance is not None and instance.ready.is_set() else None

    def shutdown(self) -> None:
        """Stop every idle engine now (in-use engines stop when their users leave)."""
        with self._lock:
            idle = [i for i in self._instances.values() if i.users == 0]
        for instance in idle:
            self._stop_if_idle(instance)

    # -- bookkeeping (threads) ---------------------------------------------------------------
    def _enter(self, key: Hashable, ticket: _Ticket) -> tuple[_Instance[T], bool] | None:
        with self._lock:
            while True:
                if ticket.given_up:
                    return None
                instance = self._instances.get(key)
                if instance is not None:
                    break
                others = [i for i in self._instances.values() if i.key != key]
                if not self.exclusive or not others:
                    instance = self._instances[key] = _Instance(key)
                    break
                busy = [i for i in others if i.users > 0]
                if busy:
                    self._lock.wait()  # a task with other settings holds the engine
                    continue
                for other in others:  # idle under other settings: make room
                    self._lock.release()
                    try:
                        self._stop_if_idle(other)
                    finally:
                        self._lock.acquire()
            if instance.idle_timer is not None:
                instance.idle_timer.cancel()
                instance.idle_timer = None
            instance.users += 1
            must_start = instance.handle is None and not instance.ready.is_set() and instance.users == 1
            ticket.entered = (instance, must_start)
            return ticket.entered

    def _give_back(self, instance: _Instance[T], must_start: bool, params: Any) -> None:
        """The place of a user that is gone (cancelled): start the engine first if that user
        was to start it (others may wait for it), then leave, on a thread of its own."""

        def give_back() -> None:
            if must_start:
                with contextlib.suppress(BaseException):  # the error reached the waiters
                    self._thread.submit(self._start_instance, instance, params).result()
            self._leave(instance, None)

        threading.Thread(target=give_back, name=f"flyte-{self.name}-give-back", daemon=True).start()

    def _start_instance(self, instance: _Instance[T], params: Any) -> None:
        logs.bind_thread(self.log_route)  # the engine's threads and processes start from here
        try:
            instance.handle = self._start(params)
            self.starts += 1
        except BaseException as exc:
            instance.error = exc
            with self._lock:
                if self._instances.get(instance.key) is instance:
                    del self._instances[instance.key]
                self._lock.notify_all()
            raise
        finally:
            instance.ready.set()

    def _leave(self, instance: _Instance[T], keep_warm: float | None) -> None:
        with self._lock:
            instance.users -= 1
            if instance.users == 0 and instance.handle is not None:
                if keep_warm is None:
                    stop_now = True
                else:
                    stop_now = False
                    timer = threading.Timer(keep_warm, self._stop_if_idle, args=(instance,))
                    timer.daemon = True
                    instance.idle_timer = timer
                    timer.start()
            else:
                stop_now = False
            self._lock.notify_all()
        if stop_now:
            self._stop_if_idle(instance)

    def _stop_if_idle(self, instance: _Instance[T]) -> None:
        with self._lock:
            if instance.users > 0 or self._instances.get(instance.key) is not instance:
                return
            del self._instances[instance.key]
            if instance.idle_timer is not None:
                instance.idle_timer.cancel()
                instance.idle_timer = None
            handle = instance.handle
            instance.handle = None
        if handle is None:
            return
        try:
            self._thread.submit(self._stop, handle).result()
        except RuntimeError:
            self._stop(handle)  # the interpreter is exiting and shut the thread down: stop here
        finally:
            with self._lock:
                self._lock.notify_all()


@atexit.register
def _stop_all() -> None:
    for engine in list(_all):
        with contextlib.suppress(Exception):  # best effort at exit; each engine on its own
            engine.shutdown()
