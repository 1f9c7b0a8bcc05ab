"""The local controller: runs a task tree with the semantics a cluster would give it.

One controller per run. Every task call becomes an *action*: its inputs are bound and
checked against ``max_inline_io_bytes``, it waits for a slot (``max_queued_time``), each
attempt runs under ``max_runtime``, failures are retried with backoff (a
``NonRecoverableError`` is not), the whole action is bounded by ``Timeout.deadline``, and
every step is recorded in the run store. *Where* an attempt runs is decided by one seam,
:func:`execute`: in this process (async bodies on the loop, sync bodies on a thread), or by a
plugin's runner (a Ray cluster, torch worker processes) beneath the same semantics.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import queue
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from contextvars import ContextVar
from typing import Any

from flyte import _codec
from flyte._cache.key import cache_key, cache_version
from flyte._cache.store import HEARTBEAT, get_store
from flyte._cache.store import enabled_by_env as cache_enabled_by_env
from flyte._context import current_caller, current_group
from flyte.connector_task import ConnectorTask
from flyte.errors import (
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
from flyte.plugin_types import TaskCall
from flyte.runtime import connectors, environ
from flyte.runtime import store as st
from flyte.runtime.secrets_runtime import SecretMounts, secret_environment
from flyte.runtime.settings import LocalSettings
from flyte.runtime.slots import Slots
from flyte.spec import TaskSpec
from flyte.task import TaskTemplate

# What the run store records about each action and the cache.
HIT, MISS, WRITTEN, DISABLED = "hit", "miss", "written", "disabled"

current_action: ContextVar[Action | None] = ContextVar("flyte_current_action", default=None)

# Callables notified of every action state change: (run, action_id, task, status, attempt,
# detail). The CLI's progress view is one; they must be quick and thread-safe.
listeners: list[Callable[[str, str, str, str, int, str | None], None]] = []


def _notify(run: str, action: Action, status: str, detail: str | None = None) -> None:
    for listener in listeners:
        listener(run, action.id, action.spec.short_name, status, action.attempt, detail)


class DependencyWarning(UserWarning):
    """A task called a task of an environment its environment does not ``depends_on``."""


class Action:
    """One task invocation in a run; also what a nested task call inside it goes through."""

    __slots__ = (
        "attempt",
        "children_waiting",
        "controller",
        "holds_slot",
        "id",
        "inline",
        "loop",
        "outputs_text",
        "parent",
        "report",
        "spec",
        "task",
    )

    def __init__(self, controller: Controller, task: TaskTemplate, spec: TaskSpec, id: str, parent: Action | None):
        self.controller = controller
        self.task = task
        self.spec = spec
        self.id = id
        self.parent = parent
        self.attempt = 0
        self.holds_slot = False
        self.children_waiting = 0
        # Set when the caller is a sync body blocked on this action in its own thread: the
        # action's sync body then runs in that thread instead of another pool thread.
        self.inline: queue.SimpleQueue[Any] | None = None
        self.report: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop running its attempt
        self.outputs_text: str | None = None  # its outputs as recorded (references, not data)

    # Caller protocol (flyte._context): a task called while this action runs.
    def call(self, task: TaskTemplate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        inputs = task.bind(args, kwargs)
        ctl = self.controller
        on_loop = _running_loop() is not None
        if not on_loop:
            # A sync body on a worker thread: hand the child to the loop that started this body
            # (it is free: it only awaits the body) and wait. This thread has nothing else to
            # do meanwhile, so a sync child's body runs here rather than on another thread.
            return _call_inline(ctl, task, inputs, self)
        coro = ctl.run_action(task, inputs, parent=self)
        if task.is_async:
            return coro  # awaited by the caller: gather / create_task work as usual
        # A sync task called from async code: the caller blocks, as any sync call does. The
        # child runs to completion on a private loop so this loop is not asked to run it.
        return run_blocking(coro)

    def aio(self, task: TaskTemplate, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        return self.controller.run_action(task, task.bind(args, kwargs), parent=self)


def _call_inline(ctl: Controller, task: TaskTemplate, inputs: dict[str, Any], parent: Action) -> Any:
    bodies: queue.SimpleQueue[Any] = queue.SimpleQueue()
    loop = parent.loop
    done = asyncio.run_coroutine_threadsafe(ctl.run_action(task, inputs, parent=parent, inline=bodies), loop)
    done.add_done_callback(lambda _: bodies.put(None))
    while (item := bodies.get()) is not None:
        body, future = item
        try:
            result = body()
        except BaseException as exc:  # handed to the attempt, which applies retries etc.
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)
    return done.result()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the attempt was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _passed(deadline: float | None) -> bool:
    """Whether a ``Timeout.deadline`` (a ``time.monotonic()`` instant) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def run_blocking(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a fresh loop in a helper thread, and wait for it."""
    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(asyncio.run, coro)
        except BaseException as exc:
            box["error"] = exc

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
    ):
        self.run_name = run_name
        self.settings = settings
        self.store = store
        self.run_env = dict(run_env or {})
        self.overwrite_cache = overwrite_cache
        self.disable_cache = disable_cache
        self.slots = Slots(settings.max_concurrency)
        self._ids = itertools.count()
        self._threads = ThreadPoolExecutor(max_workers=512, thread_name_prefix="flyte-task")
        self._warned: set[tuple[str, str]] = set()
        self.mounts = SecretMounts()
        self.cache = None  # the result cache, when enabled (flyte._cache.store)
        self.root_outputs: str | None = None  # the root action's encoded outputs

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.mounts.close()  # an interrupted run's secret files go now, not when its tasks notice

    # -- one action ------------------------------------------------------------------------
    async def run_action(
        self, task: TaskTemplate, inputs: dict[str, Any], parent: Action | None, inline: Any = None
    ) -> Any:
        spec = task.spec
        action = Action(self, task, spec, f"a{next(self._ids)}", parent)
        action.inline = inline
        queued_at = time.monotonic()
        if parent is not None:
            self._check_dependency(parent, task)
        inputs = await transport.inputs_leaving(inputs)  # dataframes stored: records see references
        encoded_inputs = self._encode("inputs", spec, inputs)
        key = self._cache_key(action, inputs)
        self.store.create_action(
            self.run_name,
            action.id,
            parent=parent.id if parent else None,
            task=spec.name,
            short_name=spec.short_name,
            status=st.QUEUED,
            queued_at=time.time(),
            inputs=st.preview(encoded_inputs),
            cache=MISS if key else DISABLED,
            grp=current_group.get(),
        )
        if listeners:
            _notify(self.run_name, action, st.QUEUED)
        if key is not None and not self.overwrite_cache:
            found = get_store().get(key)
            if found is not None:
                return await self._cache_hit(action, found)
        if parent is not None:
            await self._parent_waits(parent)
        try:
            if key is not None and spec.cache.serialize:
                return await self._serialized(action, inputs, queued_at, key)
            result = await self._attempts(action, inputs, queued_at)
            if key is not None:
                self._cache_write(action, key, result)
            return result
        except Exception as exc:
            if parent is None:
                raise
            seen = as_user_error(exc)  # also a RuntimeUserError with .code, as the reference SDK raises
            if seen is exc:
                raise
            raise seen from exc.__cause__
        finally:
            if parent is not None:
                await self._parent_resumes(parent)

    # -- the result cache -------------------------------------------------------------------
    def _cache_key(self, action: Action, inputs: dict[str, Any]) -> str | None:
        if self.disable_cache or not action.spec.cache.enabled or not cache_enabled_by_env():
            return None
        if get_store().broken:
            return None
        return cache_key(action.spec, action.task.func, inputs)

    async def _cache_hit(self, action: Action, outputs: str) -> Any:
        value = await transport.output_arriving(action.task.func, _codec.loads(outputs))
        if action.parent is None:
            self.root_outputs = outputs
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

    def _cache_write(self, action: Action, key: str, result: Any) -> None:
        spec = action.spec
        outputs = action.outputs_text or _codec.dumps(result, path="outputs")
        get_store().put(key, spec.name, cache_version(action.task.func, spec.cache, spec.image), outputs)
        self.store.update_action(self.run_name, action.id, cache=WRITTEN)

    async def _serialized(self, action: Action, inputs: dict[str, Any], queued_at: float, key: str) -> Any:
        """serialize=True: run once per key across coroutines, threads and processes."""
        cache = get_store()
        owner = f"{self.run_name}/{action.id}/{uuid.uuid4().hex}"
        delay = 0.01
        while True:
            reserved, found = await asyncio.to_thread(cache.try_reserve, key, owner)
            if found is not None and not self.overwrite_cache:
                return await self._cache_hit(action, found)
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
        self._cache_write(action, key, result)
        return result

    async def _attempts(self, action: Action, inputs: dict[str, Any], queued_at: float) -> Any:
        spec = action.spec
        timeout = spec.timeout
        deadline = queued_at + timeout.deadline.total_seconds() if timeout and timeout.deadline else None
        max_attempts = spec.retries.count + 1
        for attempt in range(max_attempts):
            action.attempt = attempt + 1
            try:
                result = await self._one_attempt(action, inputs, deadline)
                action.task.check_output(result)  # an OutputTypeError is not retried
                # Dataframes it returned are stored now: a failure to store fails the attempt.
                stored, result = await transport.output_leaving(action.task.func, result, self.run_name, action.id)
            except NonRecoverableError as exc:
                self._finish(action, st.FAILED, error=exc)
                raise
            except Exception as exc:
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
            outputs = self._encode("outputs", spec, stored)
            action.outputs_text = outputs
            if action.parent is None:
                self.root_outputs = outputs
            self._finish(action, st.SUCCEEDED, outputs=outputs)
            return result
        raise AssertionError("unreachable")

    async def _one_attempt(self, action: Action, inputs: dict[str, Any], deadline: float | None) -> Any:
        spec = action.spec
        timeout = spec.timeout
        queue_limit = timeout.max_queued_time.total_seconds() if timeout and timeout.max_queued_time else None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError(f"{spec.name}: deadline of {timeout.deadline} passed")
            queue_limit = remaining if queue_limit is None else min(queue_limit, remaining)
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
        try:
            self.store.update_action(
                self.run_name, action.id, status=st.RUNNING, attempts=action.attempt, started_at=time.time()
            )
            if listeners:
                _notify(self.run_name, action, st.RUNNING)
            limit = timeout.max_runtime.total_seconds() if timeout and timeout.max_runtime else None
            if deadline is not None:
                left = deadline - time.monotonic()
                limit = left if limit is None else min(limit, left)
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
            action.holds_slot = False
            self.slots.release()

    # -- a parent gives its slot up while it waits for children ------------------------------
    async def _parent_waits(self, parent: Action) -> None:
        parent.children_waiting += 1
        if parent.children_waiting == 1 and parent.holds_slot:
            parent.holds_slot = False
            self.slots.release()

    async def _parent_resumes(self, parent: Action) -> None:
        parent.children_waiting -= 1
        if parent.children_waiting == 0 and not parent.holds_slot and self.slots.limit is not None:
            await self.slots.acquire(None)
            parent.holds_slot = True

    # -- records and checks ----------------------------------------------------------------
    def _finish(
        self, action: Action, status: str, outputs: str | None = None, error: BaseException | None = None
    ) -> None:
        report = action.report.save() if action.report is not None else None
        self.store.update_action(
            self.run_name,
            action.id,
            status=status,
            attempts=action.attempt,
            ended_at=time.time(),
            outputs=st.preview(outputs),
            error=_summary(error) if error else None,
            report=report,
        )
        if listeners:
            _notify(self.run_name, action, status, _summary(error) if error else None)

    def _encode(self, what: str, spec: TaskSpec, value: Any) -> str:
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
        if callee_env is caller_env or callee_env in caller_env.reachable():
            return
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
            warnings.warn(message, DependencyWarning, stacklevel=2)


async def execute(action: Action, inputs: dict[str, Any]) -> Any:
    """Run one attempt: through the plugin that owns the task's config, or in this process."""
    spec = action.spec
    ctl = action.controller
    if isinstance(action.task, ConnectorTask):  # a service does the work; the runtime follows it
        run, attempt = ctl.run_name, action.attempt
        return await connectors.run_attempt(
            spec, inputs, store=ctl.store, run=run, action=action.id, attempt=attempt, settings=ctl.settings
        )
    inputs = await transport.inputs_arriving(action.task.func, inputs)  # references read as declared
    with ExitStack() as stack:
        env = {**ctl.run_env, **spec.env_vars}
        env.update(stack.enter_context(secret_environment(spec, ctl.settings, ctl.mounts)))

        async def invoke() -> Any:
            return await _invoke_here(action, inputs, env)

        if spec.plugin_config is not None:
            from flyte.plugins import get_registry

            plugin = get_registry().task_plugin_for(spec.plugin_config)
            if plugin.run is not None:

                async def invoke_and_store() -> Any:
                    # Dataframes are stored before the plugin's engine goes away: a Dask or
                    # Spark frame is computed, and written, by that engine's workers.
                    result = await invoke()
                    action.task.check_output(result)  # as returned, before anything is written
                    stored, _ = await transport.output_leaving(action.task.func, result, ctl.run_name, action.id)
                    return stored

                call = TaskCall(
                    spec=spec,
                    function=action.task.func,
                    inputs=inputs,
                    environ={**environ.visible(), **env},
                    invoke=invoke_and_store,
                    action=f"{ctl.run_name}/{action.id}",
                )
                return await plugin.run(call)
        return await invoke()


async def _invoke_here(action: Action, inputs: dict[str, Any], env: dict[str, str]) -> Any:
    """The task body in this process, with its environment and its nested-call context."""
    from flyte.report import open_report

    ctl = action.controller
    func = action.task.func
    if action.spec.report and action.report is None:
        action.report = open_report(ctl.run_name, action.id, action.spec.name)
    action.loop = asyncio.get_running_loop()
    with environ.task_environment(env):
        token_caller = current_caller.set(action)
        token_action = current_action.set(action)
        try:
            if action.task.is_async:
                return await func(**inputs)
            return await _run_sync_body(action.loop, ctl._threads, func, inputs, action.inline)
        finally:
            current_caller.reset(token_caller)
            current_action.reset(token_action)


async def _run_sync_body(
    loop: asyncio.AbstractEventLoop, pool: Any, func: Any, inputs: dict[str, Any], inline: Any = None
) -> Any:
    """A sync task body on a worker thread. If the attempt is cancelled (a timeout, a failed
    sibling, Ctrl-C), the thread is interrupted too: ``TaskInterruptedError`` is raised in it
    at its next Python instruction, so a runaway loop stops instead of running on unseen.
    (Code blocked inside one C call, such as a long ``time.sleep``, stops when that returns.)"""
    ctx = contextvars.copy_context()
    lock = threading.Lock()
    state: dict[str, Any] = {"thread": None}

    def body() -> Any:
        with lock:
            if state.get("cancelled"):  # cancelled before it started (it waited for a thread)
                raise TaskInterruptedError("the attempt was cancelled before its body started")
            state["thread"] = threading.get_ident()
        try:
            return ctx.run(func, **inputs)
        finally:
            # Under the lock, so an interruption is only ever aimed at this body, never at
            # whatever the pool thread runs next.
            with lock:
                state["thread"] = None

    if inline is not None:  # the blocked caller's thread runs it (see _call_inline)
        future = loop.create_future()
        inline.put((body, future))
    else:
        future = loop.run_in_executor(pool, body)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with lock:
            state["cancelled"] = True
            if state["thread"] is not None:
                _interrupt_thread(state["thread"])
        # Nobody awaits the body any more: retrieve its outcome so it is not reported.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise


def _interrupt_thread(thread_id: int) -> None:
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(TaskInterruptedError))


def _summary(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    return f"{type(exc).__name__}: {exc}"
