"""Task bodies on threads of their own, and how a body is stopped.

An async body without a time limit runs on its action's event loop (the fast path). Every
other body runs on a thread where nothing else runs meanwhile: a sync body (on a pool thread,
or on the thread of the sync body that called it and waits for it), and an async body whose
attempt has a limit (``max_runtime`` or ``deadline``), on a pool thread's own event loop. The
action's loop therefore stays free while a body blocks (``time.sleep``, a CPU loop, a blocking
client), fires the timeout on time, and reports it at once.

Stopping a body (:meth:`Body.stop`: its attempt timed out or was cancelled) does three things
without waiting for the body:

1. an async body's task is cancelled on its loop (a body that awaits stops cleanly);
2. the body's thread gets ``TaskInterruptedError`` at its next Python instruction
   (``PyThreadState_SetAsyncExc``): at once for a sync body; for an async one, when its loop
   has not run the cancellation within :data:`BUSY_CHECK` (the body blocks it), or the body
   still runs :data:`CANCEL_GRACE` after it. This is the last resort: it stops a CPU-bound
   Python loop, but a thread inside one C call (``time.sleep``, a blocking read) only sees it
   when that call returns; while the thread runs flyte's code for one of the body's task
   calls, it is raised when that call returns (:mod:`~flyte.runtime.interrupts`);
3. the processes the body started, and their trees, are stopped (:mod:`~flyte.runtime.proctree`).

Pool threads are daemon threads: the interpreter never waits for a body at exit. A thread
whose body was interrupted is not reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

from flyte.errors import TaskInterruptedError
from flyte.runtime import interrupts, proctree
from flyte.runtime.idle_threads import IdleThreads

# An async body's loop that has not run its cancellation after BUSY_CHECK seconds is blocked
# by the body; a body still running CANCEL_GRACE seconds after its cancellation ran ignores it.
# Either way its thread is interrupted. (A CPU-bound body also slows every other thread down,
# through the GIL, until it stops: hence the short first check.)
BUSY_CHECK = 0.05
CANCEL_GRACE = 1.0
# How long an idle pool thread waits for another body before it exits.
IDLE_SECONDS = 30.0
# Idle pool threads keep their event loops (three file descriptors each) for the next async
# body, up to this many: after a burst of timed async bodies the others close theirs at once.
IDLE_LOOPS = 8

_PROCTREE = proctree.supported()
# The body whose thread (or event loop) runs the current code, if any.
current: contextvars.ContextVar[Body | None] = contextvars.ContextVar("flyte_body", default=None)
_PENDING, _RUNNING, _CANCELLED, _INTERRUPTED, _DONE = range(5)


class Body:
    """One attempt's body, run on a thread by :meth:`run`, awaited on its action's loop
    through :attr:`future`, and stopped from anywhere by :meth:`stop`."""

    __slots__ = (
        "_before",
        "_call",
        "_cancel_seen",
        "_ctx",
        "_grace_checked",
        "_lock",
        "_loop",
        "_native",
        "_shield",
        "_state",
        "_task",
        "_thread",
        "future",
        "is_async",
        "stopped",
    )

    def __init__(
        self,
        call: Callable[[], Any],
        ctx: contextvars.Context,
        owner: asyncio.AbstractEventLoop | None,
        is_async: bool,
    ):
        self._call = call  # returns the result (sync body) or a coroutine (async body)
        self._ctx = ctx
        self.is_async = is_async
        # Where the outcome is awaited (None: the caller runs it with run_here and gets it back).
        self.future: asyncio.Future[Any] = owner.create_future() if owner is not None else None  # type: ignore[assignment]
        self._lock = threading.Lock()
        self._state = _PENDING
        self._thread = 0
        self._native = 0
        self._shield: interrupts.Shield | None = None  # its thread's (set when it starts)
        self._before: frozenset[int] = frozenset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self.stopped = False  # set by stop(): the body may still run, but its attempt is over
        self._cancel_seen = False  # an async body's loop ran its cancellation
        self._grace_checked = False
        ctx.run(current.set, self)

    # -- on the body's thread ---------------------------------------------------------------
    def run(self, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Run the body on this thread (an async body on ``loop``), hand the outcome to the
        action's loop; False when the body was interrupted (the thread must not be reused)."""
        result, error, interrupted = self._execute(loop)
        self._settle(result, error)
        return not interrupted

    def run_here(self) -> Any:
        """Run a sync body on this thread and return its result (or raise its error): its
        attempt is driven on this same thread, so no loop waits for the outcome."""
        result, error, _ = self._execute(None, snapshot=False)
        if error is not None:
            raise error
        return result

    def _execute(
        self, loop: asyncio.AbstractEventLoop | None, snapshot: bool = True
    ) -> tuple[Any, BaseException | None, bool]:
        # snapshot: the thread's processes before the body, to tell the ones it starts. A body
        # run by its caller's thread (run_here) has no time limit of its own: what stops it is
        # the caller's stop or the run's, which stop that thread's processes either way.
        shield = interrupts.shield()
        with self._lock:
            if self._state == _CANCELLED:
                return None, TaskInterruptedError("the attempt was cancelled before its body started"), False
            self._thread = threading.get_ident()
            self._native = threading.get_native_id()
            self._shield = shield
            if _PROCTREE and snapshot:
                self._before = proctree.thread_children(self._native)
            if loop is not None:
                self._loop = loop
                self._task = loop.create_task(self._call(), context=self._ctx)
            self._state = _RUNNING
        depth = len(shield.stack)  # (flyte's code runs here: nothing is sent to this thread)
        result = error = None
        try:
            shield.enter_body()
            result = self._ctx.run(self._call) if loop is None else loop.run_until_complete(self._task)
        except BaseException as exc:  # handed to the attempt, which applies retries etc.
            error = exc
        # An interruption sent just as the body ended may land here, before leave_body withdraws
        # it: absorbed, it must not reach the code that follows.
        interrupted = False
        while True:
            try:
                interrupted = shield.leave_body(depth) or interrupted
                break
            except TaskInterruptedError:
                interrupted = True
        return result, error, self._leave() or interrupted

    def _leave(self) -> bool:
        """Mark the body done; whether it was interrupted."""
        with self._lock:
            interrupted = self._state == _INTERRUPTED
            self._state = _DONE
        return interrupted

    @property
    def finished(self) -> bool:
        """The body's thread has left it (or it never started): its ``finally`` blocks ran."""
        return self._state in (_DONE, _CANCELLED)

    def fail(self, error: BaseException) -> None:
        """The body cannot run (its thread could not start an event loop)."""
        with self._lock:
            self._state = _DONE
        self._settle(None, error)

    def _settle(self, result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for this outcome
            self.future.get_loop().call_soon_threadsafe(_settle, self.future, result, error)

    # -- from the action's loop (or a thread aborting the run) -------------------------------
    def stop(self) -> None:
        """Stop the body and the processes it started; returns without waiting for it."""
        roots: frozenset[int] = frozenset()
        with self._lock:
            self.stopped = True
            if self._state == _PENDING:
                self._state = _CANCELLED
                return
            if self._state != _RUNNING:
                return
            if _PROCTREE:
                roots = proctree.thread_children(self._native) - self._before
            if self._task is not None:
                self._loop.call_soon_threadsafe(self._cancel_on_loop)  # type: ignore[union-attr]
                self._check_later(BUSY_CHECK)
            else:
                self._interrupt_locked()
        if roots:
            proctree.terminate(roots)

    def _cancel_on_loop(self) -> None:
        self._cancel_seen = True
        self._task.cancel()  # type: ignore[union-attr]

    def _check_later(self, delay: float) -> None:
        timer = threading.Timer(delay, self._check_stopped)
        timer.daemon = True
        timer.start()

    def _check_stopped(self) -> None:
        with self._lock:
            if self._state != _RUNNING:
                return
            if self._cancel_seen and not self._grace_checked:
                self._grace_checked = True
                self._check_later(CANCEL_GRACE)
                return
            self._interrupt_locked()

    def _interrupt_locked(self) -> None:
        self._state = _INTERRUPTED
        self._shield.interrupt()  # type: ignore[union-attr]  # (set when it started running)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the attempt was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _holds_loop(worker: _Worker) -> bool:
    return worker.loop is not None


class _Worker:
    """A pool thread: runs one body at a time; an async body on the thread's own loop."""

    __slots__ = ("bodies", "loop", "tasks")

    def __init__(self) -> None:
        self.bodies: queue.SimpleQueue[Body] = queue.SimpleQueue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: set[asyncio.Task[Any]] = set()  # unfinished tasks of this thread's loop

    def main(self) -> None:
        _local.pool_thread = True
        while True:
            try:
                body = self.bodies.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                if _pool.retire(self):
                    break
                continue  # a body was handed to this thread as it gave up
            if body.is_async and self.loop is None:
                try:
                    self.loop = new_loop()
                except OSError as exc:
                    body.fail(exc)
                    _pool.park(self)
                    continue
                self.loop.set_task_factory(self._new_task)
            if not body.run(self.loop if body.is_async else None):
                break  # its loop may be broken and its state is unknown: do not reuse it
            if self.tasks:  # tasks the body started and left running do not outlive it
                leftovers = list(self.tasks)
                for task in leftovers:
                    task.cancel()
                self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))  # type: ignore[union-attr]
            if self.loop is not None and _pool.count(_holds_loop) >= IDLE_LOOPS:
                self.loop.close()
                self.loop = None
            _pool.park(self)
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # still marked running: interrupted inside it
                self.loop.close()

    def _new_task(self, loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> asyncio.Task[Any]:
        # Tracked here because asyncio.all_tasks(loop) walks every task of every loop.
        task = asyncio.Task(coro, loop=loop, **options)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


def new_loop(purpose: str = "an async task with a time limit") -> asyncio.AbstractEventLoop:
    """An event loop for a thread of the run's: a pool thread's (an async body with a time
    limit), or the one a sync body's call of an async task runs on. Each holds three file
    descriptors, and a run may need hundreds at once (a thousand-deep chain of sync and async
    calls): the first raises the soft open-file limit to the hard one (once per process, as
    ``ulimit -n`` does), and a loop that still cannot open is a clear error."""
    global _limit_raised
    if not _limit_raised:
        _limit_raised = True
        _raise_open_file_limit()
    try:
        return asyncio.new_event_loop()
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"cannot start an event loop for {purpose} ({exc.strerror}): each one running at once "
            "needs one, with 3 file descriptors; raise the open-file limit (ulimit -n)",
        ) from exc


_limit_raised = False


def _raise_open_file_limit() -> None:
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 10240)  # macOS refuses more
    if soft != resource.RLIM_INFINITY and target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# Daemon threads for bodies, reused while idle.
_pool: IdleThreads[_Worker] = IdleThreads()
_local = threading.local()  # pool_thread: this is a pool thread


def on_pool_thread() -> bool:
    """Whether this thread is a pool thread (a daemon thread that runs bodies)."""
    return getattr(_local, "pool_thread", False)


def start(body: Body) -> None:
    """Run ``body`` on a pool thread (an idle one, or a new one)."""
    worker = _pool.take()
    if worker is None:
        worker = _Worker()
        threading.Thread(target=worker.main, name="flyte-body", daemon=True).start()
    worker.bodies.put(body)
