"""The local controller: runs a task tree with the semantics a cluster would give it.

One controller per run. Every task call becomes an *action*: its inputs are bound and
checked against ``max_inline_io_bytes``, it waits for a slot (``max_queued_time``), each
attempt runs under ``max_runtime``, failures are retried with backoff (a
``NonRecoverableError`` is not), the whole action is bounded by ``Timeout.deadline``, and
every step is recorded in the run store. *Where* an attempt runs is decided by one seam,
:func:`execute`: in this process, or by a plugin's runner (a Ray cluster, torch worker
processes) beneath the same semantics. In this process, an async body without a time limit
runs on the action's loop; every other body runs on a thread of its own, where it can be
stopped (:mod:`flyte.runtime.bodies`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import itertools
import queue
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from flyte import _codec
from flyte._cache.key import TaskPart, cache_key, key_version, memoised_part
from flyte._cache.store import HEARTBEAT, CacheStore, CacheWarning, get_store, ticket
from flyte._cache.store import enabled_by_env as cache_enabled_by_env
from flyte._context import BodyContext, current_body, current_group
from flyte._task_context import context_of
from flyte._typecheck import SignatureCheck
from flyte._validation import warn_at_definition
from flyte.connector_task import ConnectorTask
from flyte.errors import (
    ActionAbortedError,
    DeadlineExceededError,
    DependencyError,
    InlineIOMaxBytesBreached,
    MaxRuntimeExceededError,
    NonRecoverableError,
    QueueTimeoutError,
    TaskInterruptedError,
    as_user_error,
)
from flyte.io import _transport as transport
from flyte.io._transport import might_hold_data
from flyte.plugin_types import TaskCall
from flyte.runtime import attempts, bodies, connectors, devices, environ, fd_mask, inline, interrupts, logs, proctree
from flyte.runtime import store as st
from flyte.runtime.awaited import call_awaited
from flyte.runtime.pool import dispatch as pool_dispatch
from flyte.runtime.pool import registry as pool_registry
from flyte.runtime.redact import contains_secret, redact
from flyte.runtime.secrets_runtime import SecretMounts, remember_declared, secret_environment
from flyte.runtime.settings import LocalSettings
from flyte.runtime.slots import Slots
from flyte.secret import Secret
from flyte.spec import TaskSpec
from flyte.task import TaskTemplate

# The running loop or None, without an exception to catch outside a loop (get_running_loop's).
_get_running_loop = asyncio.events._get_running_loop

# The action whose async body is blocked in a sync call (``Action.run_blocked``): its calls run
# where they are made instead of on its loop.
_blocked_loop_of: contextvars.ContextVar[Action | None] = contextvars.ContextVar("flyte_blocked_loop_of", default=None)

# TaskTemplate._cache_part of a cached task whose keys are computed whole on every call.
_PER_CALL = object()

# The types of a returned value that holds no numpy integer to convert (SignatureCheck.integral_output).
_PLAIN_SCALARS = _codec.CANONICAL_SCALARS

# What the run store records about each action and the cache.
HIT, MISS, WRITTEN, DISABLED = "hit", "miss", "written", "disabled"
NOT_CACHED = "not cached (secret)"  # ran, and its outputs held a secret's value: not written

# A chain of nested calls grows one stack: an awaited child runs inside its parent's asyncio
# task, a sync child inside its parent's thread. Past this many frames the next child starts
# on a fresh stack (its own asyncio task, or a pool thread), so any nesting depth stays far
# below Python's recursion limit.
FRESH_STACK_AFTER = 200
# A level of nesting adds fewer than 10 of our frames, so the stack of a call from an action
# fewer than this many levels deep is far from FRESH_STACK_AFTER (unless the user's own code
# recurses). Only past it is the depth looked up: sys._getframe raises on a shallow stack,
# ~0.5 µs on every child call.
SHALLOW_LEVELS = 8

# Callables notified of every action state change: (run, action_id, task, status, attempt,
# detail). The CLI's progress view is one; they must be quick and thread-safe.
listeners: list[Callable[[str, str, str, str, int, str | None], None]] = []


def _notify(run: str, action: Action, status: str, detail: str | None = None) -> None:
    name = redact(action.spec.short_name)
    for listener in listeners:
        listener(run, action.id, name, status, action.attempt, detail)


def _notify_hit(run: str, action_id: str, spec: TaskSpec) -> None:
    """A call answered from the cache: queued, then cached (it has no attempt)."""
    name = redact(spec.short_name)
    for status in (st.QUEUED, "CACHED"):
        for listener in listeners:
            listener(run, action_id, name, status, 0, None)


class DependencyWarning(UserWarning):
    """A task called a task of an environment its environment does not ``depends_on``."""


class Action:
    """One task invocation in a run; also what a nested task call inside it goes through."""

    __slots__ = (
        "attempt",
        "attempt_started",
        "checked_env",
        "checks",
        "children_waiting",
        "controller",
        "depth",
        "driven",
        "driven_child",
        "forwarded",
        "holds_slot",
        "id",
        "inline",
        "lease",
        "log",
        "loop",
        "outputs_text",
        "parent",
        "pooled_on",
        "report",
        "spec",
        "stoppable",
        "task",
    )

    def __init__(
        self,
        controller: Controller,
        task: TaskTemplate,
        spec: TaskSpec,
        id: str,
        parent: Action | None,
        checks: SignatureCheck | None = None,
    ):
        self.controller = controller
        self.task = task
        self.spec = spec
        self.id = id
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1  # levels of nested calls above it
        # What its inputs and output can be (scalars: no data to move); task.type_checks.
        self.checks = checks or task.type_checks
        self.checked_env: Any = None  # another environment its calls went to, checked (depends_on)
        self.attempt = 0
        self.attempt_started: float | None = None  # when the current attempt got its slot
        self.log: logs.AttemptLog | None = None  # the current attempt's log
        self.holds_slot = False
        self.children_waiting = 0
        # Set when the caller is a sync body blocked on this action in its own thread: the
        # action's sync body then runs in that thread instead of another pool thread.
        self.inline: queue.SimpleQueue[bodies.Body | None] | None = None
        # Driven on its caller's thread (flyte.runtime.inline): its loop, if any, is one that
        # thread does not run (None when the caller blocks the run's loop).
        self.driven = False
        self.driven_child: Action | None = None  # the child its body's thread is driving now
        self.report: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop running its attempt
        self.outputs_text: str | None = None  # its outputs as recorded (references, not data)
        self.stoppable = False  # whether the current attempt has a time limit
        self.lease: Any = None  # its slot on a reusable environment's worker (runtime.pool)
        self.pooled_on: str | None = None  # that worker (``<pool>/<pid>``), for the attempt's record
        # Children started from the body's own thread: cancelled when the attempt stops.
        self.forwarded: set[concurrent.futures.Future[Any]] | None = None  # (an empty set is 216 bytes)

    # Caller protocol (flyte._context): a task called while this action runs.
    def call(self, task: TaskTemplate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        shield = interrupts.shield_here()
        if shield is None:  # not a body's thread: nothing interrupts this one
            return self._call(task, args, kwargs)
        # A body's thread: stopping the body now interrupts it when the call returns, not
        # inside flyte's code. interrupts.call_shielded, written out: one frame less on every
        # sync child call (~0.3 µs of ~20).
        depth = shield.enter_flyte()
        try:
            result = self._call(task, args, kwargs)
        except TaskInterruptedError:  # the interruption already (a refusal, or the child's)
            shield.leave_flyte(depth, stopped=False)
            raise
        except BaseException:
            shield.leave_flyte(depth, stopped=_outlived_attempt())
            raise
        shield.leave_flyte(depth, stopped=_outlived_attempt())
        return result

    def _call(self, task: TaskTemplate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        inputs = task.bind(args, kwargs)
        loop = _get_running_loop()
        # ``await sync_task(...)`` in async code: meant as ``await sync_task.aio(...)``.
        if loop is not None and not task.is_async and call_awaited(2):  # (TaskTemplate.__call__, call)
            return self._aio(task, inputs)
        if loop is None:
            # A sync body on its own thread: hand the child to this action's loop (it is free:
            # it only awaits the body) and wait. This thread has nothing else to do meanwhile,
            # so a sync child's body runs here rather than on another thread.
            return _call_inline(self, task, inputs)
        if loop is not self.loop:
            # An async body on a thread of its own (its attempt has a time limit): the children
            # run on this action's loop, which records and cancels them even if the body blocks.
            if task.is_async:
                return self._forwarded(task, inputs)
            return self.wait_on_loop(self.controller.run_action(task, inputs, parent=self))
        if task.is_async:  # awaited by the caller: gather / create_task work as usual
            return self._awaitable(task, inputs)
        # A sync task called from async code: the caller blocks, as any sync call does. A plain
        # one runs right here; any other to completion on a private loop in a helper thread, so
        # this (blocked) loop is not asked to run it.
        ctl = self.controller
        if not _deep(self) and inline.eligible(task, ctl.slots.limit):
            return self.drive(task, inputs)
        return run_blocking(ctl.run_action(task, inputs, parent=self), ctl.loop_threads)

    def aio(self, task: TaskTemplate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        return self._aio(task, task.bind(args, kwargs))

    def _aio(self, task: TaskTemplate, inputs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        if self.loop is None or _get_running_loop() is self.loop or _blocked_loop_of.get() is self:
            return self._awaitable(task, inputs)
        return self._forwarded(task, inputs)

    def run_blocked(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` (which calls tasks) to its end from this action's async body, which
        blocks its loop meanwhile (a sync API called from async code, e.g. ``flyte.map``): on
        a private loop in a helper thread, where the calls run as they would on this action's
        loop, rather than being handed to the blocked loop (a deadlock)."""

        async def blocked() -> Any:
            _blocked_loop_of.set(self)  # in this coroutine's own context (run_blocking's task)
            return await coro

        return run_blocking(blocked(), self.controller.loop_threads)

    def _awaitable(self, task: TaskTemplate, inputs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        if self.depth >= SHALLOW_LEVELS and _deep(self):  # (the depth test first: no call)
            return _on_fresh_stack(self.controller.run_action(task, inputs, parent=self))
        return _child(self.controller, task, inputs, self, ticket())  # made now, run later: see ticket()

    async def _forwarded(self, task: TaskTemplate, inputs: dict[str, Any]) -> Any:
        return await asyncio.wrap_future(self.submit(self.controller.run_action(task, inputs, parent=self)))

    def wait_on_loop(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on this action's loop and wait for its result (from a body's thread)."""
        return self.submit(coro).result()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Start ``coro`` on this action's loop from another thread; it is cancelled if the
        current attempt stops."""
        if _outlived_attempt():
            coro.close()
            self.refuse()
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        if self.forwarded is None:
            self.forwarded = set()
        self.forwarded.add(future)
        future.add_done_callback(self.forwarded.discard)
        waiting = self.controller.waiting
        waiting.add(future)
        future.add_done_callback(waiting.discard)
        return future

    def refuse(self) -> None:
        raise TaskInterruptedError(f"{self.spec.name}: its attempt was stopped, so it cannot call tasks any more")

    def drive(self, task: TaskTemplate, inputs: dict[str, Any]) -> Any:
        """Run a plain sync child on this thread (:mod:`flyte.runtime.inline`)."""
        if _outlived_attempt():  # a body that outlived its attempt starts nothing
            self.refuse()
        # This action's loop stays free for the child's own calls unless this thread runs it.
        free = self.loop if _get_running_loop() is not self.loop else None
        try:
            return inline.drive(self.controller.run_action(task, inputs, parent=self, driven=True, free_loop=free))
        finally:
            self.driven_child = None

    def abort_driven(self) -> None:
        """Record the children this action's thread is driving as aborted: the action's attempt
        was stopped, and they stop with its thread (a body blocked in a call sees it later)."""
        child = self.driven_child
        while child is not None:
            error = ActionAbortedError(f"{child.spec.name}: its caller was stopped")
            child.controller._finish(child, st.ABORTED, error=error)
            child = child.driven_child

    def cancel_forwarded(self) -> None:
        for future in list(self.forwarded or ()):
            future.cancel()


def _call_inline(parent: Action, task: TaskTemplate, inputs: dict[str, Any]) -> Any:
    ctl = parent.controller
    # Only on a pool thread: never where interpreter exit waits for a body (asyncio.to_thread's).
    if not _deep(parent) and bodies.on_pool_thread() and inline.eligible(task, ctl.slots.limit):
        return parent.drive(task, inputs)
    if parent.loop is None:  # the parent was driven on a loop it blocks: the child needs one of its own
        return run_blocking(ctl.run_action(task, inputs, parent=parent), ctl.loop_threads)
    if _deep(parent) or not bodies.on_pool_thread():
        # The child's body gets a thread (and a stack) of its own: a deep stack must not grow,
        # and a body must never run where interpreter exit waits for it (e.g. on a thread of
        # asyncio.to_thread, which exit joins).
        return parent.wait_on_loop(parent.controller.run_action(task, inputs, parent=parent))
    handed: queue.SimpleQueue[bodies.Body | None] = queue.SimpleQueue()
    done = parent.submit(parent.controller.run_action(task, inputs, parent=parent, inline=handed))
    done.add_done_callback(lambda _: handed.put(None))
    while (body := handed.get()) is not None:
        body.run()
    return done.result()


def _outlived_root(name: str) -> ActionAbortedError:
    return ActionAbortedError(f"{name} was aborted: the run's root action ended while it ran")


def _outlived_attempt() -> bool:
    """Whether the body running this code outlived its attempt (it was stopped)."""
    body = bodies.current.get()
    return body is not None and body.stopped


def _deep(caller: Action) -> bool:
    """Whether this thread's stack is more than ``FRESH_STACK_AFTER`` frames deep (``caller``:
    the action making a call here)."""
    if caller.depth < SHALLOW_LEVELS:
        return False
    try:
        sys._getframe(FRESH_STACK_AFTER)
    except ValueError:
        return False
    return True


async def _child(ctl: Controller, task: TaskTemplate, inputs: dict[str, Any], parent: Action, made: int) -> Any:
    """A child call as its caller holds it (in an ``asyncio.gather``, a task): a finished
    asyncio task keeps its coroutine until the task is freed, so this one is small (~220 bytes;
    run_action's, ~400, is freed when it returns). In a gather of 100,000 children that is
    ~18 MB less at the peak, for one coroutine layer (~1% of a child call's instructions)."""
    return await ctl.run_action(task, inputs, parent, made=made)


async def _on_fresh_stack(coro: Coroutine[Any, Any, Any]) -> Any:
    return await asyncio.ensure_future(coro)  # a task of its own starts from the loop's stack


def _has_deadline(spec: TaskSpec) -> bool:
    timeout = spec.timeout
    return timeout is not None and timeout.deadline is not None


def _passed(deadline: float | None) -> bool:
    """Whether a ``Timeout.deadline`` (a ``time.monotonic()`` instant) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def _loop_for_a_sync_caller() -> asyncio.AbstractEventLoop:
    return bodies.new_loop("a task called from a sync task")


def run_blocking(coro: Coroutine[Any, Any, Any], loop_threads: set[int] | None = None) -> Any:
    """Run a coroutine to completion on a fresh loop in a helper thread, and wait for it.

    The helper's thread id is in ``loop_threads`` while it runs (a run's processes are found
    through the threads of its loops)."""
    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        native = threading.get_native_id()
        if loop_threads is not None:
            loop_threads.add(native)
        try:
            # The caller's context goes to the coroutine's task: Runner.run would give it the
            # context the runner copied when it started, on this thread (empty), so the calls in
            # ``coro`` would lose their caller (flyte.map from an async body ran its children
            # unrecorded) and its flyte.group.
            with asyncio.Runner(loop_factory=_loop_for_a_sync_caller) as runner:
                box["value"] = runner.run(coro, context=ctx)
        except BaseException as exc:
            box["error"] = exc
        finally:
            if loop_threads is not None:
                loop_threads.discard(native)

    thread = threading.Thread(target=target, name="flyte-sync-call", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Controller:
    """Runs the actions of one run and records them."""

    def __init__(
        self,
        run_name: str,
        settings: LocalSettings,
        store: st.RunStore,
        run_env: dict[str, str] | None = None,
        overwrite_cache: bool = False,
        disable_cache: bool = False,
        max_concurrency: int | None = None,
    ):
        self.run_name = run_name
        self.started_at = time.time()  # flyte.ctx().run_start_time
        self.settings = settings
        self.store = store
        self.run_env = dict(run_env or {})
        self.overwrite_cache = overwrite_cache
        # FLYTE_LOCAL_CACHE_ENABLED=false: read once per run, not on every cached call
        self.disable_cache = disable_cache or not cache_enabled_by_env()
        # The run's own cap (with_runcontext(max_action_concurrency=)) over the process's.
        self.slots = Slots(max_concurrency or settings.max_concurrency)
        self._ids = itertools.count()
        self._warned: set[tuple[str, str]] = set()
        # Environment pairs (caller, callee) a call went between, by id: checked once per run.
        self._env_pairs: dict[tuple[int, int], tuple[Any, Any]] = {}
        self.mounts = SecretMounts()
        self.secrets_known: set[tuple[Secret, ...]] = set()  # tasks' secrets masked before their first call's record
        self.cache: CacheStore | None = None  # the result cache, once a cached task is called
        self.root_outputs: str | None = None  # the root action's encoded outputs
        # The root action returned or raised: a child still going then (a task it started and
        # never awaited) is aborted, however its body ends (the guide's action lifetime).
        self.root_ended = False
        self.bodies: set[bodies.Body] = set()  # bodies running on threads of their own
        self.run_pools = False  # whether a pool of a scope="run" policy was started for this run
        self.stopping: set[bodies.Body] = set()  # stopped bodies whose threads may still unwind
        self.loop_threads: set[int] = set()  # native ids of the threads running the run's loops
        self.waiting: set[concurrent.futures.Future[Any]] = set()  # actions a thread waits for
        self.aborted = False
        self.keep_logs = logs.enabled()

    def new_action_id(self) -> str:
        """The id of the run's next action (a task call or a traced step)."""
        return st.action_id(next(self._ids))

    def start_step(self, parent: str, **fields: Any) -> str:
        """Record a traced call (``flyte.trace``) starting inside action ``parent``; its id."""
        ident = self.new_action_id()
        self.store.create_action(self.run_name, ident, parent=parent, **fields)
        return ident

    def end_step(self, ident: str, **fields: Any) -> None:
        """Record the end of the traced call ``ident`` (its status, output or error)."""
        self.store.update_action(self.run_name, ident, **fields)

    def close(self) -> None:
        self.mounts.close()  # an interrupted run's secret files go now, not when its tasks notice
        if self.run_pools:  # ReusePolicy(scope="run"): the run's own pools end with it
            pool_registry.close_run_pools(self.run_name)

    def stop_loop_processes(self) -> None:
        """Stop the processes started on the run's loops (by async bodies without a time
        limit, which run there): the run is being interrupted."""
        if proctree.supported():
            for native in list(self.loop_threads):
                proctree.terminate(proctree.thread_children(native))

    def unwinding(self, body: bodies.Body) -> None:
        """A stopped body whose thread may still be running: remembered (the finished ones
        dropped now and then) so an interrupted run can wait for its ``finally`` blocks."""
        if len(self.stopping) >= 64:
            self.stopping = {b for b in self.stopping if not b.finished}
        self.stopping.add(body)

    def wait_unwound(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for stopped bodies to leave their threads, so their
        ``finally`` blocks run before the interpreter exits (daemon threads stop mid-way)."""
        deadline = time.monotonic() + timeout
        while any(not body.finished for body in self.stopping) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.stopping = {body for body in self.stopping if not body.finished}

    def abort(self) -> None:
        """Stop what is left of an interrupted run from outside its loop (which may be blocked):
        every body still running and the processes it started, the processes of the run's
        loops, and record every unfinished action as ABORTED."""
        self.aborted = True  # nothing is retried or started any more
        for body in list(self.bodies):
            body.stop()
            self.unwinding(body)
        for future in list(self.waiting):  # their loop may be blocked: release the waiting threads
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(ActionAbortedError("the run was interrupted"))
        self.stop_loop_processes()
        self.store.abort_unfinished(self.run_name, "ActionAbortedError: the run was interrupted")

    # -- one action ------------------------------------------------------------------------
    async def run_action(
        self,
        task: TaskTemplate,
        inputs: dict[str, Any],
        parent: Action | None,
        inline: Any = None,
        driven: bool = False,
        free_loop: asyncio.AbstractEventLoop | None = None,
        made: int = 0,
    ) -> Any:
        """Run one task call as an action of this run and return its outputs. ``made``: the
        call's cache ticket when it was made before it runs (0: made now; see ``ticket``)."""
        # The resolved spec and checks, as task.spec and task.type_checks give them (read
        # here without their properties: Python 3.11 specialises no property read).
        spec = task._spec or task.spec
        if self.aborted:
            raise ActionAbortedError(f"{spec.name}: the run was interrupted")
        number = next(self._ids)
        queued_at = time.monotonic()
        if parent is not None:
            env = task.env
            # Most calls stay in one environment, or go to the one the caller's last call went to.
            if env is not parent.task.env and env is not parent.checked_env:
                self._check_dependency(parent, task)
                parent.checked_env = env
        checks = task._checks or task.type_checks
        if checks.converted_inputs:  # (a new dict: the caller's stays as it passed it)
            inputs = {**inputs, **{n: put(inputs[n]) for n, put in checks.converted_inputs if n in inputs}}
        if not checks.scalar_inputs and might_hold_data(inputs):  # dataframes stored: records see references
            inputs = await transport.inputs_leaving(inputs)
        encoder = task._inputs_encoder
        if encoder is None:  # the first call of this task object
            encoder = task._inputs_encoder = _codec.flat_encoder(tuple(task.signature.parameters))
        text = encoder(inputs)  # None: not plain scalars by parameter name (dumps encodes them)
        if text is None and checks.integral_inputs:  # a numpy integer for an int is not plain
            inputs = {**inputs, **{n: put(inputs[n]) for n, put in checks.integral_inputs if n in inputs}}
            text = encoder(inputs)
        if spec.secrets and spec.secrets not in self.secrets_known:
            # Masked in the inputs recorded now and in the cache key, not only once its attempt
            # has them (once a run: the attempt still fetches, and masks, its own values).
            remember_declared(spec, self.settings)
            self.secrets_known.add(spec.secrets)
        encoded_inputs = self._encode("inputs", spec, inputs, text)
        # (A task known not to be cached has no key: no call to say so.)
        key = None if task._cache_part is False else self._cache_key(task, inputs, encoded_inputs, text is not None)
        if key is not None and not self.overwrite_cache:
            found = self.cache.get(key, made, spec.name, spec.cache.max_age)  # type: ignore[union-attr]  # (_cache_key opened it)
            if found is not None:
                # A hit is answered before its Action is made: it needs none (no attempt, no
                # body, no slot) and most hits have nothing to await, not even a coroutine.
                if parent is None:
                    self.root_outputs = found
                value = _codec.loads(found)  # references in it are fetched below
                # A scalar output declared: its entry, keyed by the interface, holds one.
                if not checks.scalar_output and might_hold_data(value):
                    value = await transport.output_arriving(task.func, value)
                self._record_hit(spec, number, parent, found, encoded_inputs, key)
                return value
        action = Action(self, task, spec, st.action_id(number), parent, checks)
        action.inline = inline
        if driven:  # stepped by its caller's thread (flyte.runtime.inline)
            action.driven = True
            action.loop = free_loop  # where its body's own calls go (None: they get a loop of their own)
            parent.driven_child = action  # type: ignore[union-attr]
        now = time.time()
        inputs_text = st.preview(encoded_inputs)
        # No None in a record (see store._grouped): a column left out is NULL.
        record: dict[str, Any]
        plain = False  # whether its first attempt is a plain one (_plain_attempt)
        plan = task._plan or _plan_of(task, spec)
        if (key is None or not spec.cache.serialize) and self.slots.limit is None and plan[0]:
            # No slot, worker, deadline or reservation to wait for (a cache lookup, made above,
            # awaits nothing): its first attempt starts before anything else runs, so it is
            # created RUNNING (one change less; no reader could have seen it QUEUED) and
            # _one_attempt does not record the start again.
            action.attempt_started = now
            record = {
                "number": number,
                "task": spec.name,
                "short_name": redact(spec.short_name),  # override(short_name=f"...{token}")
                "queued_at": now,
                "inputs": inputs_text,
                "status": st.RUNNING,
                "started_at": now,
                "attempts": 1,
                "cache": DISABLED,
            }
            if key is not None:
                record["cache"] = MISS
                record["cache_key"] = key
            plain = plan[1] and (checks.scalar_inputs or not might_hold_data(inputs))
        else:
            record = {
                "number": number,
                "task": spec.name,
                "short_name": redact(spec.short_name),  # override(short_name=f"...{token}")
                "queued_at": now,
                "inputs": inputs_text,
                "status": st.QUEUED,
                "cache": DISABLED,
            }
            if key is not None:
                record["cache"] = MISS
                record["cache_key"] = key
        if parent is not None:
            record["parent"] = parent.id
        group = current_group.get()
        if group is not None:
            record["grp"] = redact(group)  # a name built from a secret is masked
        self.store.create_action_record(self.run_name, action.id, record)
        if listeners:
            _notify(self.run_name, action, st.QUEUED)
        if parent is not None:
            parent.children_waiting += 1
            # Its first child waiting: it gives its slot (and its worker's) up, if it holds one.
            if parent.children_waiting == 1 and (parent.holds_slot or parent.lease is not None):
                self._parent_waits(parent)
        try:
            if key is not None and spec.cache.serialize:
                return await self._serialized(action, inputs, queued_at, key)
            return await self._attempts(action, inputs, queued_at, plain, key)
        except Exception as exc:
            if parent is None:
                raise
            seen = as_user_error(exc)  # also a RuntimeUserError with .code, as the reference SDK raises
            if seen is exc:
                raise
            raise seen from exc.__cause__
        finally:
            if parent is None:
                self.root_ended = True
            else:
                parent.children_waiting -= 1
                # (With no slot cap and no worker, resuming has nothing to do.)
                resumes = parent.lease is not None or self.slots.limit is not None
                if not parent.children_waiting and resumes and self._parent_resumes(parent):
                    await self.slots.acquire(None)
                    parent.holds_slot = True

    # -- the result cache -------------------------------------------------------------------
    def _results(self) -> CacheStore:
        """The cache store of the run's state root, looked up once per run (its owner may
        close it, e.g. ``flyte cache clear`` of a damaged file: then it is looked up again)."""
        cache = self.cache
        if cache is None or cache.closed:
            cache = self.cache = get_store()
        return cache

    def _cache_key(self, task: TaskTemplate, inputs: dict[str, Any], encoded: str, in_order: bool) -> str | None:
        """The call's cache key, or None when it is not cached (``encoded``: its inputs as
        recorded, which the key reuses when they are canonical; ``in_order``: they are the
        task's parameters in order). Whether the task is cached, and the part of its keys
        every call shares, are worked out once per task object."""
        if self.disable_cache:
            return None
        part = task._cache_part
        if part is None:  # first use of this task object (its spec is fixed: an override is another)
            spec = task.spec
            # (A custom policy's version may change while the process lives: asked every call.)
            part = (memoised_part(spec, task.func) or _PER_CALL) if spec.cache.enabled else False
            task._cache_part = part
        if part is False:
            return None
        cache = self.cache
        if cache is None or cache.closed:
            cache = self._results()
        if cache.broken:
            return None
        if part is _PER_CALL:
            return cache_key(task.spec, task.func, inputs, encoded)
        return part.key(inputs, encoded, in_order)

    def _record_hit(
        self, spec: TaskSpec, number: int, parent: Action | None, outputs: str, encoded_inputs: str, key: str
    ) -> None:
        """A call answered from the cache: its record is made once, succeeded and a hit
        (``number``: the action's, as its id says)."""
        now = time.time()
        record = {
            "number": number,
            "task": spec.name,
            "short_name": redact(spec.short_name),
            "status": st.SUCCEEDED,
            "queued_at": now,
            "started_at": now,
            "ended_at": now,
            "inputs": st.preview(encoded_inputs),  # (secret values masked)
            "outputs": st.preview(outputs),
            "cache": HIT,
            "cache_key": key,
        }
        # No None in a record (see store._grouped): a column left out is NULL.
        if parent is not None:
            record["parent"] = parent.id
        group = current_group.get()
        if group is not None:
            record["grp"] = redact(group)  # a name built from a secret is masked
        ident = f"a{number}"  # st.action_id
        self.store.create_action_record(self.run_name, ident, record)
        if listeners:
            _notify_hit(self.run_name, ident, spec)

    async def _waited_hit(self, action: Action, outputs: str) -> Any:
        """serialize=True: the entry another call wrote while this one waited (its record,
        made before it waited, becomes a hit)."""
        if action.parent is None:
            self.root_outputs = outputs
        value = _codec.loads(outputs)
        if might_hold_data(value):
            value = await transport.output_arriving(action.task.func, value)
        now = time.time()
        self.store.update_action(
            self.run_name,
            action.id,
            status=st.SUCCEEDED,
            cache=HIT,
            started_at=now,
            ended_at=now,
            outputs=st.preview(outputs),
        )
        if listeners:
            _notify(self.run_name, action, "CACHED")
        return value

    def _cache_write(self, action: Action, key: str) -> bool:
        """Store the action's outputs under ``key`` and record it; False when they hold a
        secret's value, which the cache never keeps: such a call runs again each time (exact,
        not cached). (A call that is not serialized stores them in :meth:`_attempts`, with its
        end's record: :meth:`_cache_put`.)"""
        state = self._cache_put(action, key)
        self.store.update_action(self.run_name, action.id, cache=state)
        return state == WRITTEN

    def _cache_put(self, action: Action, key: str) -> str:
        """Store the succeeded action's outputs under ``key`` (``action.outputs_text``); what
        its record's cache column says then: WRITTEN, or NOT_CACHED when they hold a secret."""
        spec = action.spec
        outputs = action.outputs_text
        assert outputs is not None  # (set by _attempts before its end is recorded)
        if contains_secret(outputs):
            if ("secret output", spec.name) not in self._warned:
                self._warned.add(("secret output", spec.name))
                # At the task's definition: a fixed stacklevel lands in this module (its caller
                # is the controller's loop, whatever the user's call was).
                warn_at_definition(
                    f"{spec.name}: its outputs contain a secret's value, so they are not cached "
                    "(the cache never keeps secret values) and the task runs on every call; "
                    "return something derived from the secret instead of the secret itself",
                    CacheWarning,
                    getattr(action.task, "func", None),
                )
            return NOT_CACHED
        part = action.task._cache_part  # (the key's: its version is the entry's, worked out once)
        version = part.version if type(part) is TaskPart else key_version(spec, action.task.func)
        if spec.cache.serialize:  # waiters in other processes poll for it: commit it now
            self._results().put(key, spec.name, version, outputs)
        else:
            self._results().put_later(key, spec.name, version, outputs)
        return WRITTEN

    async def _serialized(self, action: Action, inputs: dict[str, Any], queued_at: float, key: str) -> Any:
        """serialize=True: run once per key across coroutines, threads and processes."""
        cache = self._results()
        owner = f"{self.run_name}/{action.id}/{uuid.uuid4().hex}"
        delay = 0.01
        while True:
            reserved, found = await asyncio.to_thread(cache.try_reserve, key, owner, action.spec.cache.max_age)
            if found is not None and not self.overwrite_cache:
                return await self._waited_hit(action, found)
            if reserved:
                break
            await asyncio.sleep(delay)  # someone else is computing it
            delay = min(delay * 2, 0.2)

        async def beat() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT)
                await asyncio.to_thread(cache.heartbeat, key, owner)

        beating = asyncio.create_task(beat())
        try:
            result = await self._attempts(action, inputs, queued_at)
        except BaseException:
            cache.release(key, owner)  # a waiter takes over
            raise
        finally:
            beating.cancel()
        if not self._cache_write(action, key):
            cache.release(key, owner)  # nothing to wait for: a waiter runs the task itself
        return result

    async def _attempts(
        self, action: Action, inputs: dict[str, Any], queued_at: float, plain: bool = False, key: str | None = None
    ) -> Any:
        """Run the action's attempts (``plain``: its first one is a plain attempt, see
        :meth:`_plain_attempt`); retries, and the record of each attempt and of the end.
        ``key``: the cache key its outputs are stored under when it succeeds."""
        spec = action.spec
        timeout = spec.timeout
        deadline = queued_at + timeout.deadline.total_seconds() if timeout and timeout.deadline else None
        max_attempts = spec.retries.count + 1
        for attempt in range(max_attempts):
            action.attempt = attempt + 1
            try:
                try:
                    if plain and not attempt:
                        result = await self._plain_attempt(action, inputs)
                    else:
                        result = await self._one_attempt(action, inputs, deadline)
                    action.checks.check_output(action.task, result)  # an OutputTypeError is not retried
                    if action.checks.converted_output is not None:
                        result = action.checks.converted_output(result)
                    elif type(result) not in _PLAIN_SCALARS and action.checks.integral_output is not None:
                        result = action.checks.integral_output(result)  # a numpy integer for an int, ...
                    # Dataframes it returned are stored now: a failure to store fails the attempt.
                    if not action.checks.scalar_output and might_hold_data(result):
                        stored, result = await transport.output_leaving(
                            action.task.func, result, self.run_name, action.id
                        )
                    else:
                        stored = result
                except BaseException as exc:
                    self._attempt_ended(action, exc)
                    raise
            except asyncio.CancelledError:
                # Its parent stopped, a sibling failed, or the run was interrupted.
                self._finish(action, st.ABORTED, error=ActionAbortedError(f"{spec.name} was cancelled"))
                raise
            except NonRecoverableError as exc:
                self._finish(action, st.FAILED, error=exc)
                raise
            except Exception as exc:
                if self.aborted or _caller_stopped(action):  # a body stopped from outside the run's loop
                    self._finish(action, st.ABORTED, error=ActionAbortedError(f"{spec.name}: the run was interrupted"))
                    raise
                if self.root_ended:
                    self._finish(action, st.ABORTED, error=_outlived_root(spec.name))
                    raise
                last = attempt + 1 >= max_attempts
                past_deadline = _passed(deadline)
                if last or past_deadline or isinstance(exc, InlineIOMaxBytesBreached):
                    self._finish(action, st.FAILED, error=exc)
                    if attempt:
                        exc.add_note(f"{spec.name} failed after {attempt + 1} attempts")
                    raise
                self.store.update_action(
                    self.run_name, action.id, status=st.RETRYING, attempts=attempt + 1, error=_summary(exc)
                )
                if listeners:
                    _notify(self.run_name, action, st.RETRYING, _summary(exc))
                delay = spec.retries.delay(attempt).total_seconds()
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                if delay:
                    await asyncio.sleep(delay)
                continue
            if self.root_ended:  # its body caught the cancel the root's end sent it, and returned
                stopped = _outlived_root(spec.name)
                self._attempt_ended(action, stopped)
                self._finish(action, st.ABORTED, error=stopped)
                return result
            self._attempt_ended(action, None)
            outputs = self._encode("outputs", spec, stored)
            action.outputs_text = outputs
            if action.parent is None:
                self.root_outputs = outputs
            cache = None
            if key is not None:
                try:
                    cache = self._cache_put(action, key)
                except BaseException:
                    self._finish(action, st.SUCCEEDED, outputs=outputs)  # it ran; its entry was not stored
                    raise
            self._finish(action, st.SUCCEEDED, outputs=outputs, cache=cache)
            return result
        raise AssertionError("unreachable")

    def _plain_attempt(self, action: Action, inputs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        """A first attempt with nothing to wait for or go through (no slot cap, worker, time
        limit, deadline, plugin, connector, secrets or data to read: see run_action), recorded
        RUNNING when its action was created: what :meth:`_one_attempt` and :func:`execute` do
        for it, without their coroutine layers (one per child call). The coroutine to await:
        the body in its context (:func:`_invoke_here`), the attempt's log made current there."""
        if listeners:
            _notify(self.run_name, action, st.RUNNING)
        if self.keep_logs:
            action.log = logs.AttemptLog(self.run_name, action.id, action.attempt)
        env_vars = action.task._plan[2]  # (a plain attempt's task has its plan)
        # environ.overlay copies it for the body (whose writes stay its own): no copy here.
        env = {**self.run_env, **env_vars} if self.run_env else env_vars
        return _invoke_here(action, inputs, env, {}, action.log)

    async def _one_attempt(self, action: Action, inputs: dict[str, Any], deadline: float | None) -> Any:
        spec = action.spec
        timeout = spec.timeout
        queue_limit = timeout.max_queued_time.total_seconds() if timeout and timeout.max_queued_time else None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError(f"{spec.name}: deadline of {timeout.deadline} passed")
            queue_limit = remaining if queue_limit is None else min(queue_limit, remaining)
        waited_from = time.monotonic() if spec.reusable is not None else 0.0  # a pool's wait counts it
        if self.slots.limit is not None:  # no cap (the default): nothing to wait for
            try:
                await self.slots.acquire(queue_limit)
            except TimeoutError:
                if _passed(deadline):
                    raise DeadlineExceededError(
                        f"{spec.name}: deadline of {timeout.deadline} passed while waiting for a slot"
                    ) from None
                raise QueueTimeoutError(
                    f"{spec.name}: waited more than {queue_limit:g}s for a slot to run in "
                    f"(max_concurrency={self.slots.limit})"
                ) from None
        action.holds_slot = True
        logged = None
        try:
            if spec.reusable is not None and not isinstance(action.task, ConnectorTask):
                # A worker of the environment's pool, before the attempt's clock starts.
                left = None if queue_limit is None else max(0.0, queue_limit - (time.monotonic() - waited_from))
                action.lease = await pool_dispatch.reserve(action, left, lambda: _passed(deadline))
                action.pooled_on = f"{action.lease.pool.name}/{action.lease.worker.pid}"
            if action.attempt_started is None:  # else recorded RUNNING when created (run_action)
                action.attempt_started = now = time.time()
                if action.attempt == 1:  # an action's time spans all its attempts and backoffs
                    self.store.update_action(self.run_name, action.id, status=st.RUNNING, attempts=1, started_at=now)
                else:
                    self.store.update_action(self.run_name, action.id, status=st.RUNNING, attempts=action.attempt)
            if listeners:
                _notify(self.run_name, action, st.RUNNING)
            limit = timeout.max_runtime.total_seconds() if timeout and timeout.max_runtime else None
            if deadline is not None:
                left = deadline - time.monotonic()
                limit = left if limit is None else min(limit, left)
            action.stoppable = limit is not None
            if self.keep_logs:
                action.log = logs.AttemptLog(self.run_name, action.id, action.attempt)
                # What the attempt prints (a plugin's run included) goes to its log.
                logged = current_body.set(current_body.get().but(log=action.log))
            if limit is None:
                return await execute(action, inputs)
            try:
                async with asyncio.timeout(limit):
                    return await execute(action, inputs)
            except TimeoutError:
                if _passed(deadline):
                    raise DeadlineExceededError(f"{spec.name}: deadline of {timeout.deadline} passed") from None
                raise MaxRuntimeExceededError(
                    f"{spec.name}: attempt {action.attempt} ran longer than {limit:g}s"
                ) from None
        finally:
            if action.lease is not None:
                action.lease.close()
                action.lease = None
            if logged is not None:
                current_body.reset(logged)
            action.holds_slot = False
            self.slots.release()

    # -- a parent gives its slot up while it waits for children ------------------------------
    # (run_action counts the children waiting; these are called when the count leaves or
    # reaches 0, not once per child.)
    def _parent_waits(self, parent: Action) -> None:
        """The first child ``parent`` waits for started: it gives its slot up."""
        if parent.lease is not None:
            parent.lease.pause()  # its worker slot too (runtime.pool)
        if parent.holds_slot:
            parent.holds_slot = False
            self.slots.release()

    def _parent_resumes(self, parent: Action) -> bool:
        """The last child ``parent`` waited for ended; True when the parent must now wait for
        its slot again (a plain function, not a coroutine)."""
        if parent.lease is not None:
            parent.lease.resume()
        return not parent.holds_slot and self.slots.limit is not None

    # -- records and checks ----------------------------------------------------------------
    def _attempt_ended(self, action: Action, error: BaseException | None) -> None:
        """Record the attempt that just ended (one that never got a slot has no record)."""
        started, log, pooled_on = action.attempt_started, action.log, action.pooled_on
        if started is None:
            return
        action.attempt_started, action.log, action.pooled_on = None, None, None
        connector = isinstance(action.task, ConnectorTask)
        in_process = not connector and action.spec.plugin_config is None and pooled_on is None
        if not attempts.written_for(error, action.attempt, in_process):
            if log is not None:
                log.close()
            return
        attempts.record(
            self.store,
            self.run_name,
            action.id,
            action.attempt,
            started_at=started,
            ended_at=time.time(),
            error=error,
            worker=attempts.worker_of(action.spec, connector, pooled_on),
            log_path=log.close() if log is not None else None,
            aborted=self.aborted,
        )

    def _finish(
        self,
        action: Action,
        status: str,
        outputs: str | None = None,
        error: BaseException | None = None,
        cache: str | None = None,
    ) -> None:
        """Record the action's end (``cache``: what its record's cache column says now, when
        its outputs were just stored or refused; None leaves it as it is)."""
        if error is None and action.report is None and action.attempt == 1 and not self.aborted:
            # A first attempt's success: no error or report was recorded to clear (passing them
            # as None would cost the row's write; see store._grouped); only the outputs may be None.
            ended = {"status": status, "attempts": 1, "ended_at": time.time(), "outputs": st.preview(outputs)}
            if cache is not None:
                ended["cache"] = cache
            self.store.update_action_record(self.run_name, action.id, ended, outputs is None)
            if listeners:
                _notify(self.run_name, action, status)
            return
        report = action.report.save() if action.report is not None else None
        fields: dict[str, Any] = {} if cache is None else {"cache": cache}
        self.store.update_action(
            self.run_name,
            action.id,
            status=status,
            attempts=action.attempt,
            ended_at=time.time(),
            outputs=st.preview(outputs),
            error=_summary(error) if error else None,
            report=report,
            **fields,
        )
        if listeners:
            _notify(self.run_name, action, status, _summary(error) if error else None)

    def _encode(self, what: str, spec: TaskSpec, value: Any, text: str | None = None) -> str:
        """``value`` as recorded (``text``: that, when the caller has it), within the task's
        ``max_inline_io_bytes``."""
        if text is None:
            text = _codec.dumps(value, path=what)
        size = len(text.encode()) if not text.isascii() else len(text)
        if size > spec.max_inline_io_bytes:
            raise InlineIOMaxBytesBreached(
                f"{spec.name}: {what} are {size:,} bytes inline, more than max_inline_io_bytes="
                f"{spec.max_inline_io_bytes:,}; pass large data as flyte.io.File/Dir, or raise "
                "the limit with @env.task(max_inline_io_bytes=...)"
            )
        return text

    def _check_dependency(self, parent: Action, task: TaskTemplate) -> None:
        caller_env, callee_env = parent.task.env, task.env
        if callee_env is caller_env:
            return
        pair = (id(caller_env), id(callee_env))
        if pair in self._env_pairs:  # checked (and warned about) in this run: depends_on only grows
            return
        if callee_env not in caller_env.reachable():
            message = (
                f"task {parent.spec.name} (environment {caller_env.name!r}) calls {task.name} of "
                f"environment {callee_env.name!r}, which {caller_env.name!r} does not list in "
                f"depends_on; a deploy would not include it. Add depends_on=[{callee_env.name}]"
            )
            if self.settings.strict_dependencies:
                raise DependencyError(message)
            key = (caller_env.name, callee_env.name)
            if key not in self._warned:
                self._warned.add(key)
                _warn_at_call(message, parent.task.func)
        self._env_pairs[pair] = (caller_env, callee_env)  # kept alive, so the ids stay theirs


def _warn_at_call(message: str, caller: Callable[..., Any]) -> None:
    """A DependencyWarning shown at the line of the calling task's body that made the call (the
    user's file, not this module), found on the stack; else at the calling task's definition."""
    code = getattr(caller, "__code__", None)
    frame = sys._getframe(1)
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back
    if code is None:
        warnings.warn(message, DependencyWarning, stacklevel=3)
        return
    filename, line = (frame.f_code.co_filename, frame.f_lineno) if frame else (code.co_filename, code.co_firstlineno)
    module = getattr(caller, "__module__", None) or "flyte"
    warnings.warn_explicit(message, DependencyWarning, filename, line, module=module)


def execute(action: Action, inputs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
    """Run one attempt: through the plugin that owns the task's config, or in this process
    (the coroutine to await)."""
    spec = action.spec
    if action.lease is None and _runs_here(action, inputs):
        # The common case: nothing to read, fetch, mount or clean up, and no plugin. The
        # attempt awaits the body's own coroutine: no layer in between (one per child call).
        ctl = action.controller
        # environ.enter copies it for the body (whose writes stay its own): no copy here.
        return _invoke_here(action, inputs, {**ctl.run_env, **spec.env_vars} if ctl.run_env else spec.env_vars, {})
    return _execute(action, inputs)


def _runs_here(action: Action, inputs: dict[str, Any]) -> bool:
    """Whether an attempt of ``action`` with ``inputs`` is its body called in this process
    and nothing else: no plugin, connector or secrets, and no data to read."""
    return _body_alone(action.task, action.spec) and (action.checks.scalar_inputs or not might_hold_data(inputs))


def _body_alone(task: TaskTemplate, spec: TaskSpec) -> bool:
    """Whether an attempt of ``task`` is its body and nothing else, whatever its inputs: no
    plugin, connector or secrets."""
    return spec.plugin_config is None and not spec.secrets and not isinstance(task, ConnectorTask)


def _plan_of(task: TaskTemplate, spec: TaskSpec) -> tuple[bool, bool, dict[str, str]]:
    """What a call of ``task`` needs beyond its body, from its spec, worked out once per task
    object (``TaskTemplate._plan``; an override is another object): whether it can start at
    once (no reusable environment's worker or deadline to wait for), whether its first
    attempt can then be plain (its body alone, with no time limit: given inputs with no data
    to read, see Controller._plain_attempt), and its environment variables as a plain dict
    (a frozen mapping is read in Python, item by item)."""
    plan = (
        spec.reusable is None and not _has_deadline(spec),
        _body_alone(task, spec) and not _has_time_limit(spec),
        dict(spec.env_vars),
    )
    task._plan = plan
    devices.warn_if_missing(spec, getattr(task, "func", None))  # once per task object, as its plan is made
    return plan


def _has_time_limit(spec: TaskSpec) -> bool:
    timeout = spec.timeout
    return timeout is not None and timeout.max_runtime is not None


async def _execute(action: Action, inputs: dict[str, Any]) -> Any:
    spec = action.spec
    ctl = action.controller
    if isinstance(action.task, ConnectorTask):  # a service does the work; the runtime follows it
        run, attempt = ctl.run_name, action.attempt
        return await connectors.run_attempt(
            spec, inputs, store=ctl.store, run=run, action=action.id, attempt=attempt, settings=ctl.settings
        )
    if action.lease is not None:  # a warm worker of the reusable environment's pool runs it
        with secret_environment(spec, ctl.settings, ctl.mounts) as secret_env:
            return await pool_dispatch.run(action, inputs, {**ctl.run_env, **spec.env_vars, **secret_env})
    if might_hold_data(inputs):  # references read as declared
        inputs = await transport.inputs_arriving(action.task.func, inputs)
    env = {**ctl.run_env, **spec.env_vars} if ctl.run_env else spec.env_vars
    if not spec.secrets:
        return await _attempt_body(action, inputs, env)
    with secret_environment(spec, ctl.settings, ctl.mounts) as secrets, fd_mask.held(action.log):
        # (What it, C code or a process it starts writes to descriptors 1 and 2 is masked too.)
        return await _attempt_body(action, inputs, {**env, **secrets})


async def _attempt_body(action: Action, inputs: dict[str, Any], env: dict[str, str]) -> Any:
    """The body, through the plugin that owns the task's config if it runs it, else here."""
    spec, ctl, func = action.spec, action.controller, action.task.func
    data: dict[str, Any] = {}  # the attempt's task-context data (TaskCall.data)

    async def invoke() -> Any:
        # Engine-bound dataframes (Spark's) cross here, inside the plugin's engine.
        ready = await transport.inputs_arriving(func, inputs, in_engine=True) if might_hold_data(inputs) else inputs
        return await _invoke_here(action, ready, env, data)

    if spec.plugin_config is not None:
        from flyte.plugins import get_registry

        plugin = get_registry().task_plugin_for(spec.plugin_config)
        if plugin.run is not None:

            async def invoke_and_store() -> Any:
                # Dataframes are stored before the plugin's engine goes away: a Dask or
                # Spark frame is computed, and written, by that engine's workers.
                result = await invoke()
                action.task.check_output(result)  # as returned, before anything is written
                stored, _ = await transport.output_leaving(func, result, ctl.run_name, action.id)
                return stored

            call = TaskCall(
                spec=spec,
                function=func,
                inputs=inputs,
                environ={**environ.visible(), **env},
                invoke=invoke_and_store,
                action=f"{ctl.run_name}/{action.id}",
                data=data,
                context=context_of(action, data),
            )
            return await plugin.run(call)
    return await invoke()


async def _invoke_here(
    action: Action,
    inputs: dict[str, Any],
    env: dict[str, str],
    data: dict[str, Any],
    log: logs.AttemptLog | None = None,
) -> Any:
    """The task body in this process, with its environment and its nested-call context; the
    engine-bound dataframes it returned are stored here, inside the plugin's engine when a
    plugin runs the attempt. ``log``: the attempt's log (a plain attempt's; any other's was
    made current by _one_attempt, around the plugin too)."""
    outer = current_body.get()
    if log is None:
        log = outer.log
    func = action.task.func
    if action.spec.report and action.report is None:
        from flyte.report import open_report

        action.report = open_report(action.controller.run_name, action.id, action.spec.name)
    if not action.driven:
        action.loop = asyncio.get_running_loop()
    # One context variable, set and reset by hand (a context manager per call costs more than
    # the body): the action as the caller (flyte.ctx, flyte.report), its data, its own copy of
    # its environment, what the attempt prints.
    overlay = environ.overlay(env)
    token = current_body.set(BodyContext(action, data, overlay, log))
    try:
        if action.task.is_async and not action.stoppable:
            result = await func(**inputs)  # the fast path, on this loop
        else:
            result = await _on_a_thread(action, inputs)
    finally:
        current_body.reset(token)
        if environ.handed_out:
            environ.end(overlay)  # threads the body started that outlive it lose its values
    # A scalar output declared: anything else fails its check (_attempts) with nothing stored.
    if not action.checks.scalar_output and might_hold_data(result):
        # Stored with the attempt's log current (what the storing prints is the attempt's).
        token = current_body.set(outer.but(log=log))
        try:
            result = await transport.outputs_in_engine(func, result, action.controller.run_name, action.id)
        finally:
            current_body.reset(token)
    return result


async def _on_a_thread(action: Action, inputs: dict[str, Any]) -> Any:
    """The body on a thread of its own; if the attempt is cancelled (a timeout, its parent
    stopped, Ctrl-C), the body, its processes and its children are stopped, without waiting."""
    is_async = action.task.is_async
    call = functools.partial(action.task.func, **inputs)
    running = action.controller.bodies
    if action.driven:  # its caller's thread steps the attempt: the body runs right here
        body = bodies.Body(call, contextvars.copy_context(), None, is_async)
        running.add(body)
        try:
            return inline.without_loop(body.run_here)
        finally:
            running.discard(body)
    body = bodies.Body(call, contextvars.copy_context(), action.loop, is_async)
    running.add(body)
    try:
        if action.inline is not None and not is_async and not action.stoppable:
            action.inline.put(body)  # the blocked caller's thread runs it (see _call_inline)
        else:
            bodies.start(body)
        return await body.future
    except asyncio.CancelledError:
        body.stop()
        if not body.finished:
            action.controller.unwinding(body)
        action.cancel_forwarded()
        action.abort_driven()
        raise
    finally:
        running.discard(body)


def _caller_stopped(action: Action) -> bool:
    """Whether an action driven on its caller's thread failed because the caller's body was
    stopped (its attempt timed out or was cancelled): the child is aborted, not failed."""
    if not action.driven:
        return False
    body = bodies.current.get()
    return body is not None and body.stopped


def _summary(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    return redact(f"{type(exc).__name__}: {exc}")
