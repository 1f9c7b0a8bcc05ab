"""A warm pool of worker processes for one reusable environment (the parent's side).

The pool is shared by every run of this process and is safe to use from any thread and any
event loop: its state is guarded by one lock, a caller waiting for a slot is woken on its own
loop, and each worker has a reader thread that settles its jobs.

Capacity and routing. A worker runs up to ``concurrency`` jobs at once; a caller takes a slot
(:meth:`WorkerPool.reserve`) on the least-loaded ready worker, or queues (first come, first
served) while the pool starts more workers, up to ``max`` replicas. A parent task waiting for
its children gives its slot up meanwhile (:meth:`Lease.pause`), as the controller does with its
own slots, so a pool never deadlocks on its own nested calls.

Lifecycle. ``min`` workers (one when ``min`` is 0) start on first use; an idle worker above
``min`` stops after ``scaledown_ttl``, one per ``scaledown_ttl`` (the guide's "container 5,
then container 4"); the whole pool stops after ``idle_ttl`` without active or queued tasks.
A worker that dies fails the jobs it was running with :class:`~flyte.errors.WorkerDiedError`
and is replaced; a job it had not yet taken (it says "took" on receipt) never ran there, and
goes to another worker in the same attempt (:class:`NeverReachedError`, ``dispatch.run``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import os
import sys
import threading
import time
import warnings
import weakref
from typing import TYPE_CHECKING, Any

import cloudpickle

from flyte import shipping
from flyte.errors import WorkerDiedError
from flyte.reuse import ReusePolicy
from flyte.runtime.pool import spawner
from flyte.runtime.pool.protocol import Channel

if TYPE_CHECKING:
    from flyte.runtime.logs import AttemptLog

# A worker asked to stop that is still running this long after is killed.
STOP_GRACE = 5.0
# How often the pool checks its timers (at most; short TTLs are checked more often).
TICK = 0.5
# The name a worker imports the driver script under (``python reuse.py``): its
# ``if __name__ == "__main__":`` block does not run there, as with multiprocessing's spawn.
MAIN_ALIAS = "__mp_main__"


def alias_main() -> None:
    """Let this process read what a worker sends about the script's classes: a worker names
    them ``__mp_main__`` (the script's name there), which here is ``__main__``, as
    multiprocessing's spawned children alias it."""
    main = sys.modules.get("__main__")
    if main is not None:
        sys.modules.setdefault(MAIN_ALIAS, main)


class NeverReachedError(WorkerDiedError):
    """The worker stopped before the job reached it: the task never ran there, so the attempt
    is sent to another worker instead of failing (see ``dispatch.run``)."""


class WorkerProcess:
    """One worker, as its pool sees it."""

    def __init__(self, pool: WorkerPool, popen: spawner.WorkerHandle, channel: Channel):
        self.pool = pool
        self.popen = popen
        self.pid = popen.pid
        self.channel = channel
        self.ready = False
        self.retiring = False
        self.load = 0  # slots taken
        self.waiting = 0  # tasks here that gave their slot up while their children run
        self.jobs: dict[int, Job] = {}
        # Jobs that ended with traced calls still running there (flyte.trace in a task that
        # did not await it): job id -> what records them, until they end or the worker does.
        self.traced: dict[int, Any] = {}
        self.codes: set[int] = set()  # task codes this worker has been sent
        self.started_at = time.time()
        self.idle_since = time.monotonic()
        self.tasks_run = 0

    @property
    def free(self) -> bool:
        return self.ready and not self.retiring and self.load < self.pool.policy.concurrency


class Job:
    """One attempt running on a worker; ``future`` gets the outcome bytes or the error."""

    __slots__ = ("future", "id", "lease", "log", "nested", "taken", "task_name")

    def __init__(self, id: int, lease: Lease, task_name: str, nested: Any, log: AttemptLog | None):
        self.id = id
        self.taken = False  # the worker said it has the job (before that, it never ran there)
        self.lease = lease
        self.task_name = task_name
        self.nested = nested  # answers the job's nested task calls (see dispatch)
        self.log = log  # the attempt's log: what the job prints in the worker lands there
        self.future: concurrent.futures.Future[bytes] = concurrent.futures.Future()

    def settle(self, outcome: bytes | None, error: BaseException | None = None) -> None:
        with contextlib.suppress(concurrent.futures.InvalidStateError):  # the attempt gave up
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(outcome)  # type: ignore[arg-type]


class Lease:
    """A slot on one worker, held by one attempt from :meth:`WorkerPool.reserve` until its
    job ends (or, when no job started, until :meth:`close`)."""

    __slots__ = ("_held", "_open", "_paused", "job", "pool", "worker")

    def __init__(self, pool: WorkerPool, worker: WorkerProcess):
        self.pool = pool
        self.worker = worker
        self.job: Job | None = None
        self._held = True  # counts in the worker's load
        self._open = True  # counts as an active task of the pool
        self._paused = False  # its slot given up while its children run

    def start(
        self, task: Any, payload: bytes, nested: Any, origin: int | None = None, log: AttemptLog | None = None
    ) -> Job:
        """Send the attempt to the worker; its outcome arrives in ``job.future``. ``origin``: the
        nested call (of a task on the same worker) this attempt answers; ``log``: the attempt's
        log, which gets what the job prints."""
        return self.pool._start(self, task, payload, nested, origin, log)

    def cancel(self) -> None:
        """Stop the job (its attempt timed out or was cancelled); its slot is free when the
        worker says the job ended."""
        job = self.job
        if job is not None and not self.worker.retiring:
            with contextlib.suppress(OSError):  # the worker is gone: its reader settles the job
                self.worker.channel.send(("cancel", job.id))

    def pause(self) -> None:
        """The attempt waits for its children: its slot is free meanwhile."""
        self.pool._release_slot(self)

    def resume(self) -> None:
        """Its children are done: take the slot back on the same worker (it runs there), even
        if that briefly exceeds ``concurrency``."""
        self.pool._retake_slot(self)

    def close(self) -> None:
        """The attempt is over: free the slot unless its job still runs (a cancelled job frees
        it when the worker confirms)."""
        if self.job is None:  # otherwise the job's end (or its worker's death) frees it
            self.pool._finish_lease(self)


class WorkerPool:
    """The workers of one reusable environment in this process."""

    def __init__(self, name: str, policy: ReusePolicy, on_close: Any = None):
        self.name = name
        self.policy = policy
        self.created_at = time.time()
        self.workers: list[WorkerProcess] = []
        self.closed = False
        self._on_close = on_close
        self._lock = threading.RLock()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[WorkerProcess]]] = (
            collections.deque()
        )
        self._active = 0  # open leases: tasks reserved or running (a waiting parent included)
        self._last_active = time.monotonic()
        self._last_scaledown = float("-inf")
        self._job_ids = itertools.count(1)
        self._code_ids = itertools.count(1)
        self._codes: weakref.WeakKeyDictionary[Any, tuple[int, bytes]] = weakref.WeakKeyDictionary()
        self._wake = threading.Event()
        self.changed = True  # something ``flyte pools`` shows changed (see state)
        with self._lock:
            for _ in range(max(policy.min_replicas, 1)):
                self._spawn_locked()
        threading.Thread(target=self._maintain, name=f"flyte-pool-{name}", daemon=True).start()

    # -- slots ---------------------------------------------------------------------------------
    async def reserve(self, timeout: float | None) -> Lease:
        """A slot on a worker; ``TimeoutError`` after ``timeout`` seconds in the queue,
        ``PoolClosedError`` if the pool stopped meanwhile."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.closed:
                raise PoolClosedError(self.name)
            self._active += 1
            worker = None if self._waiters else self._free_worker()
            if worker is not None:
                worker.load += 1
                self.changed = True
                return Lease(self, worker)
            fut: asyncio.Future[WorkerProcess] = loop.create_future()
            self._waiters.append((loop, fut))
            self._scale_up_locked()
            self.changed = True
        try:
            worker = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except BaseException:
            with self._lock:
                self._active -= 1
                if (loop, fut) in self._waiters:
                    self._waiters.remove((loop, fut))
                    fut.cancel()
                    self._note_idle_locked()
                    raise
            # A worker was granted as we gave up: hand its slot on.
            if fut.done() and not fut.cancelled():
                self._release_worker(fut.result())
            else:
                fut.add_done_callback(lambda f: None if f.cancelled() else self._release_worker(f.result()))
            raise
        return Lease(self, worker)

    def _free_worker(self) -> WorkerProcess | None:
        # The least occupied, counting tasks that wait for their children: those still live
        # there, and a child that crashes its worker would take its parent along.
        best = None
        for worker in self.workers:
            if worker.free and (best is None or worker.load + worker.waiting < best.load + best.waiting):
                best = worker
        return best

    def _grant_locked(self) -> None:
        while self._waiters:
            worker = self._free_worker()
            if worker is None:
                return
            loop, fut = self._waiters.popleft()
            if fut.done():
                continue
            worker.load += 1
            try:
                loop.call_soon_threadsafe(self._grant, fut, worker)
            except RuntimeError:  # its loop is closed: nobody waits any more
                worker.load -= 1
        self.changed = True

    def _grant(self, fut: asyncio.Future[WorkerProcess], worker: WorkerProcess) -> None:
        if fut.cancelled():
            self._release_worker(worker)
        else:
            fut.set_result(worker)

    def _release_worker(self, worker: WorkerProcess) -> None:
        with self._lock:
            worker.load -= 1
            if worker.load == 0:
                worker.idle_since = time.monotonic()
            self._grant_locked()

    def _release_slot(self, lease: Lease) -> None:
        """The attempt waits for its children: its slot is free meanwhile."""
        with self._lock:
            if lease._held and lease._open:
                lease._held = False
                lease._paused = True
                lease.worker.waiting += 1
                self._release_worker(lease.worker)

    def _retake_slot(self, lease: Lease) -> None:
        with self._lock:
            if lease._paused:
                lease._paused = False
                lease.worker.waiting -= 1
                lease._held = True
                lease.worker.load += 1
                self.changed = True

    def _finish_lease(self, lease: Lease) -> None:
        with self._lock:
            if lease._paused:
                lease._paused = False
                lease.worker.waiting -= 1
            if lease._held:
                lease._held = False
                self._release_worker(lease.worker)
            if lease._open:
                lease._open = False
                self._active -= 1
                self._note_idle_locked()

    def _note_idle_locked(self) -> None:
        if self._active == 0 and not self._waiters:
            self._last_active = time.monotonic()
            self._wake.set()

    # -- jobs ----------------------------------------------------------------------------------
    def _start(
        self, lease: Lease, task: Any, payload: bytes, nested: Any, origin: int | None, log: AttemptLog | None
    ) -> Job:
        worker = lease.worker
        code_id, code = self._code_for(task)
        job = Job(next(self._job_ids), lease, task.spec.name, nested, log)
        lease.job = job
        with self._lock:
            alive = worker in self.workers and not worker.retiring
            if alive:
                worker.jobs[job.id] = job
                worker.tasks_run += 1
        if not alive:
            gone = f"worker {worker.pid} of pool {self.name!r} stopped before the task reached it"
            job.settle(None, NeverReachedError(gone))
            self._finish_lease(lease)
            return job
        try:
            if code_id not in worker.codes:
                worker.channel.send(("code", code_id, code))
                worker.codes.add(code_id)
            worker.channel.send(("run", job.id, code_id, payload, origin))
        except OSError:
            pass  # the worker died: its reader thread fails the job
        return job

    def _code_for(self, task: Any) -> tuple[int, bytes]:
        found = self._codes.get(task)
        if found is None:
            alias_main()
            function = shipping.dumps_call(task.func, {}, by_file=True, main_module=MAIN_ALIAS)
            found = (next(self._code_ids), cloudpickle.dumps((function, task.spec, task.is_async)))
            self._codes[task] = found
        return found

    def _job_done(self, worker: WorkerProcess, job_id: int, outcome: bytes) -> None:
        with self._lock:
            job = worker.jobs.pop(job_id, None)
            if job is not None and getattr(job.nested, "steps", None):
                worker.traced[job_id] = job.nested  # their ends are still to come
        if job is None:
            return
        job.settle(outcome)
        self._finish_lease(job.lease)

    # -- workers -------------------------------------------------------------------------------
    def _spawn_locked(self) -> None:
        """Start a worker (on the spawner thread; it is ready when it says so)."""
        placeholder = _Starting()
        self.workers.append(placeholder)  # type: ignore[arg-type]
        spawner.submit(lambda: self._spawned(placeholder))

    def _spawned(self, placeholder: _Starting) -> None:
        try:
            popen, channel = spawner.start_worker()
        except BaseException as exc:
            with self._lock:
                self.workers.remove(placeholder)  # type: ignore[arg-type]
                waiters = list(self._waiters) if not any(w.ready for w in self.workers) else []
                error = WorkerDiedError(f"pool {self.name!r} cannot start a worker: {exc}")
                for loop, fut in waiters:
                    self._waiters.remove((loop, fut))
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(_fail, fut, error)
            return
        worker = WorkerProcess(self, popen, channel)
        with self._lock:
            index = self.workers.index(placeholder)  # type: ignore[arg-type]
            self.workers[index] = worker
            stop = self.closed
        if stop:
            self._stop_worker(worker)
        threading.Thread(target=self._read, args=(worker,), name=f"flyte-pool-{worker.pid}", daemon=True).start()

    def _scale_up_locked(self) -> None:
        concurrency = self.policy.concurrency
        starting = sum(1 for w in self.workers if not w.ready)
        need = len(self._waiters) - starting * concurrency
        while need > 0 and len(self.workers) < self.policy.max_replicas:
            self._spawn_locked()
            need -= concurrency

    def _read(self, worker: WorkerProcess) -> None:
        channel = worker.channel
        while (message := channel.recv()) is not None:
            kind = message[0]
            if kind == "done":
                self._job_done(worker, message[1], message[2])
            elif kind == "took":
                with self._lock:
                    job = worker.jobs.get(message[1])
                    if job is not None:
                        job.taken = True
            elif kind == "call":
                with self._lock:
                    job = worker.jobs.get(message[1])
                if job is not None:
                    job.nested(worker, message[2], message[3])
            elif kind == "log":
                with self._lock:
                    job = worker.jobs.get(message[1])
                if job is not None and job.log is not None:
                    job.log.write(message[2])
                    if message[3]:
                        job.log.lost(message[3])
            elif kind == "step":
                with self._lock:
                    job = worker.jobs.get(message[1])
                    nested = job.nested if job is not None else worker.traced.get(message[1])
                if nested is not None:
                    nested.step(message[2], message[3])
                    if job is None and not nested.steps:
                        with self._lock:
                            worker.traced.pop(message[1], None)
            elif kind == "warn":
                _warn_again(message[2])
            elif kind == "ready":
                with self._lock:
                    worker.ready = True
                    worker.idle_since = time.monotonic()
                    self._grant_locked()
        channel.close_receiving()
        channel.close_sending()
        returncode = worker.popen.wait()
        self._exited(worker, returncode)

    def _exited(self, worker: WorkerProcess, returncode: int) -> None:
        with self._lock:
            if worker in self.workers:
                self.workers.remove(worker)
            jobs = list(worker.jobs.values())
            worker.jobs.clear()
            traced = list(worker.traced.values())
            worker.traced.clear()
            expected = worker.retiring
            if not self.closed and (len(self.workers) < max(self.policy.min_replicas, 1) or self._waiters):
                self._spawn_locked()  # a replacement
            self._grant_locked()
        how = shipping.describe_exit(returncode)
        if returncode == -9:
            how += " (the kernel's out-of-memory killer sends SIGKILL too)"
        for job in jobs:
            if job.taken:
                error: WorkerDiedError = WorkerDiedError(
                    f"{job.task_name}: worker process {worker.pid} of reusable environment {self.name!r} {how} "
                    f"while running it{' (it was being stopped)' if expected else ''}; the pool replaces it"
                )
            else:  # it died before the job reached it (say, idle, just before the pool saw it)
                error = NeverReachedError(
                    f"{job.task_name}: worker process {worker.pid} of reusable environment {self.name!r} {how} "
                    "before the task reached it"
                )
            job.settle(None, error)
            self._finish_lease(job.lease)
        for nested in traced:  # traced calls that outlived their task, and now their worker
            nested.abort_steps(
                WorkerDiedError(f"worker process {worker.pid} of reusable environment {self.name!r} {how}")
            )

    def _stop_worker(self, worker: WorkerProcess) -> None:
        """Ask a worker to exit (it exits when its pipe closes); killed after STOP_GRACE."""
        worker.retiring = True
        worker.channel.close_sending()
        timer = threading.Timer(STOP_GRACE, _kill_if_running, args=(worker.popen,))
        timer.daemon = True
        timer.start()

    # -- timers --------------------------------------------------------------------------------
    def _maintain(self) -> None:
        policy = self.policy
        ttls = [t.total_seconds() for t in (policy.idle_ttl, policy.scaledown_ttl) if t]
        tick = min([TICK, *(t / 4 for t in ttls)])
        while not self.closed:
            self._wake.wait(tick)
            self._wake.clear()
            self._check_timers()

    def _check_timers(self) -> None:
        policy = self.policy
        now = time.monotonic()
        with self._lock:
            if self.closed:
                return
            idle = self._active == 0 and not self._waiters
            if idle and policy.idle_ttl is not None and now - self._last_active >= policy.idle_ttl.total_seconds():
                self._close_locked()
                return
            if policy.scaledown_ttl is None:
                return
            ttl = policy.scaledown_ttl.total_seconds()
            live = [w for w in self.workers if not w.retiring]
            if len(live) <= policy.min_replicas or now - self._last_scaledown < ttl:
                return
            idle_workers = [w for w in live if w.ready and w.load == 0 and now - w.idle_since >= ttl]
            if idle_workers:
                self._last_scaledown = now
                self.changed = True
                self._stop_worker(idle_workers[-1])  # the newest first

    def close(self) -> None:
        """Stop every worker now (jobs still running fail with ``WorkerDiedError``)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.changed = True
        for worker in list(self.workers):
            if isinstance(worker, WorkerProcess):
                self._stop_worker(worker)
        while self._waiters:
            loop, fut = self._waiters.popleft()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_fail, fut, PoolClosedError(self.name))
        self._wake.set()
        if self._on_close is not None:
            self._on_close(self)

    # -- what ``flyte pools`` shows ----------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The pool as plain data; times are wall-clock (``time.time()``) instants."""
        mono, wall = time.monotonic(), time.time()
        policy = self.policy
        with self._lock:
            idle = self._active == 0 and not self._waiters
            return {
                "pool": self.name,
                "owner": os.getpid(),
                "replicas": list(policy.replicas) if isinstance(policy.replicas, tuple) else policy.replicas,
                "concurrency": policy.concurrency,
                "scaledown_ttl": policy.scaledown_ttl.total_seconds() if policy.scaledown_ttl else None,
                "idle_ttl": policy.idle_ttl.total_seconds() if policy.idle_ttl else None,
                "active": self._active,
                "queued": len(self._waiters),
                "idle_since": wall - (mono - self._last_active) if idle else None,
                "workers": [
                    {
                        "pid": w.pid,
                        "state": "retiring" if w.retiring else "ready" if w.ready else "starting",
                        "load": w.load,
                        "tasks_run": w.tasks_run,
                        "idle_since": wall - (mono - w.idle_since) if w.load == 0 and w.ready else None,
                    }
                    for w in self.workers
                    if isinstance(w, WorkerProcess)
                ],
            }


class _Starting:
    """A worker being started: counts toward the pool's size, takes no jobs."""

    ready = False
    retiring = False
    load = 0
    free = False


class PoolClosedError(Exception):
    """The pool stopped (its idle_ttl passed) while a caller was about to use it: try again."""


def _warn_again(blob: bytes) -> None:
    """Issue a warning a worker's task raised, in this process (its filters apply)."""
    try:
        message, category, filename, lineno = cloudpickle.loads(blob)
    except Exception:  # its category does not import here
        return
    if not (isinstance(category, type) and issubclass(category, Warning)):
        category = UserWarning
    warnings.warn_explicit(message, category, filename, lineno)


def _fail(fut: asyncio.Future[Any], error: BaseException) -> None:
    if not fut.done():
        fut.set_exception(error)


def _kill_if_running(popen: spawner.WorkerHandle) -> None:
    if popen.poll() is None:
        with contextlib.suppress(OSError):
            popen.kill()
