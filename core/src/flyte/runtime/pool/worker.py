"""A pool worker process: runs the tasks its pool sends, many at once, and keeps its globals.

Forked by the pool's fork server (:mod:`.forkserver`), or started as ``python -m
flyte.runtime.pool.worker READ_FD WRITE_FD PARENT_PID`` where there is none. The task's
module is imported once (by name, or from its file; the driver script as ``__mp_main__``), so a
global a task sets (a model loaded once) is there for the next task on this worker. Each job
runs like an attempt in the controller's process: its ``env_vars`` and secrets visible to it
only, an async body without a time limit on the worker's event loop (async tasks interleave), any
other body on a thread of its own that can be stopped (:mod:`flyte.runtime.bodies`), its
plugin's runner around it (a warm engine stays in this process through ``SharedEngine``), and
nested task calls sent back to the controller that owns the run.

It never outlives its pool: Linux sends it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``),
on which it stops the processes its tasks started and exits at once; and it exits as soon as
its pipe from the pool reads end-of-file (the pool closed it, or its process is gone).
Ctrl-C in a terminal reaches the whole process group; a worker ignores it and leaves the
decision to its pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import ctypes
import functools
import itertools
import os
import signal
import sys
import threading
import warnings
from typing import Any

import cloudpickle

from flyte import shipping
from flyte._context import BodyContext, current_body, current_custom_context, current_group
from flyte.errors import as_user_error
from flyte.runtime import bodies, environ, fd_mask, interrupts, logs, mount_redirect, proctree, secrets_runtime
from flyte.runtime import settings as cfg
from flyte.runtime.awaited import call_awaited
from flyte.runtime.pool.joblog import JobLog
from flyte.runtime.pool.protocol import Channel

_PR_SET_PDEATHSIG = 1
# How long a stopping worker's normal exit may take before it leaves at once.
EXIT_GRACE = 4.0


class Worker:
    def __init__(self, channel: Channel):
        self.channel = channel
        self.loop = asyncio.new_event_loop()
        self.raw_codes: dict[int, bytes] = {}
        self.codes: dict[int, tuple[Any, Any, bool]] = {}  # code id -> (function, spec, is_async)
        self.jobs: dict[int, asyncio.Task[None]] = {}
        self.replies: dict[int, concurrent.futures.Future[bytes]] = {}
        self.call_contexts: dict[int, contextvars.Context] = {}  # nested call id -> its caller's context
        self.call_ids = itertools.count(1)
        self.step_tokens = itertools.count(1)  # traced calls' tokens (see _RunSeenFromWorker)

    def serve(self) -> None:
        environ.install()
        logs.install()  # the terminal as before, and each job's own log (joblog)
        _relay_warnings(self.channel)
        threading.Thread(target=self._read, name="flyte-worker-pipe", daemon=True).start()
        self.channel.send(("ready", os.getpid()))
        self.loop.run_forever()
        leftovers = list(self.jobs.values())
        for task in leftovers:
            task.cancel()
        if leftovers:  # (a body that ignores this is cut short by EXIT_GRACE)
            self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        self.loop.close()

    # -- the pipe from the pool (a thread) ------------------------------------------------
    def _read(self) -> None:
        while (message := self.channel.recv()) is not None:
            kind = message[0]
            if kind == "code":
                self.raw_codes[message[1]] = message[2]
            elif kind == "run":
                # Taken: from here on the pool counts the job as started here (a worker that
                # dies before saying so never ran it, and the pool sends it to another).
                with contextlib.suppress(OSError):
                    self.channel.send(("took", message[1]))
                self.loop.call_soon_threadsafe(self._start, *message[1:])
            elif kind == "cancel":
                self.loop.call_soon_threadsafe(self._cancel, message[1])
            elif kind == "reply":
                self.call_contexts.pop(message[1], None)
                future = self.replies.pop(message[1], None)
                if future is not None:
                    future.set_result(message[2])
        # The pool closed our pipe (it stops this worker), or its process is gone: leave by
        # the interpreter's normal exit, so warm engines stop cleanly (SharedEngine's atexit),
        # and at once if that takes too long.
        self.channel.close_receiving()
        timer = threading.Timer(EXIT_GRACE, _exit_now)
        timer.daemon = True  # runs while exit handlers run; never delays a quick exit
        timer.start()
        self.loop.call_soon_threadsafe(self.loop.stop)

    # -- jobs (on the worker's loop) --------------------------------------------------------
    def _start(self, job_id: int, code_id: int, payload: bytes, origin: int | None) -> None:
        # A child of a task on this worker starts from its caller's context, as an awaited
        # child does in one process (a plugin's "already inside my engine" marker, say).
        caller = self.call_contexts.get(origin) if origin is not None else None
        context = caller.copy() if caller is not None else contextvars.Context()
        self.jobs[job_id] = self.loop.create_task(self._job(job_id, code_id, payload), context=context)

    def _cancel(self, job_id: int) -> None:
        task = self.jobs.get(job_id)
        if task is not None:
            task.cancel()

    async def _job(self, job_id: int, code_id: int, payload: bytes) -> None:
        _current_job.set(job_id)
        log = None
        try:
            call = cloudpickle.loads(payload)
            if call["log"]:  # what this job prints goes to its attempt's log too (joblog)
                log = JobLog(self.channel, job_id)
                current_body.set(current_body.get().but(log=log))  # (this job's own asyncio task)
            function, spec, is_async = self._code(code_id)  # a module's import prints into it
            result = await self._execute(job_id, function, spec, is_async, call)
            outcome = shipping.pack_result(result)
        except BaseException as exc:
            outcome = shipping.pack_error(exc)
        finally:
            self.jobs.pop(job_id, None)
        if log is not None:
            log.close()  # every line reaches the pool before the outcome does
        with contextlib.suppress(OSError):  # the pool is gone: the reader thread ends this process
            self.channel.send(("done", job_id, outcome))

    def _code(self, code_id: int) -> tuple[Any, Any, bool]:
        found = self.codes.get(code_id)
        if found is None:
            function_blob, spec, is_async = cloudpickle.loads(self.raw_codes.pop(code_id))
            function, _ = shipping.loads_call(function_blob)  # imports the task's module once
            found = self.codes[code_id] = (function, spec, is_async)
        return found

    async def _execute(self, job_id: int, function: Any, spec: Any, is_async: bool, call: dict[str, Any]) -> Any:
        from flyte.io import _transport as transport

        _adopt(call)
        caller = _RemoteCaller(self, job_id, spec, call)
        data: dict[str, Any] = {}
        inputs = await transport.inputs_arriving(function, call["inputs"])
        env = call["env"]
        secrets_runtime.remember_handed(spec, env)  # masked in what this worker prints, too
        if not spec.secrets:
            return await self._run(function, spec, is_async, inputs, env, caller, data, call)
        # What the job, C code or a process it spawns writes to descriptors 1 and 2 directly
        # is masked too, as in the controller's process.
        with fd_mask.held(current_body.get().log):
            return await self._run(function, spec, is_async, inputs, env, caller, data, call)

    async def _run(
        self,
        function: Any,
        spec: Any,
        is_async: bool,
        inputs: dict[str, Any],
        env: dict[str, str],
        caller: Any,
        data: dict[str, Any],
        call: dict[str, Any],
    ) -> Any:
        """The job's body, through the plugin that owns its config if it runs it."""
        from flyte._typecheck import signature_check
        from flyte.io import _transport as transport

        run, action = call["run"], call["action"]

        async def invoke() -> Any:
            ready = await transport.inputs_arriving(function, inputs, in_engine=True)
            result = await self._body(function, is_async, ready, env, caller, data, call["stoppable"])
            return await transport.outputs_in_engine(function, result, run, action)

        if spec.plugin_config is not None:
            from flyte.plugin_types import TaskCall
            from flyte.plugins import get_registry

            plugin = get_registry().task_plugin_for(spec.plugin_config)
            if plugin.run is not None:

                async def invoke_and_store() -> Any:
                    # Dataframes are stored before the plugin's engine goes away (as in the
                    # controller's process): a Dask or Spark frame is written by its workers.
                    result = await invoke()
                    signature_check(function).check_output(spec.name, result)  # before writing
                    stored, _ = await transport.output_leaving(function, result, run, action)
                    return stored

                return await plugin.run(
                    TaskCall(
                        spec=spec,
                        function=function,
                        inputs=inputs,
                        environ={**environ.visible(), **env},
                        invoke=invoke_and_store,
                        action=f"{run}/{action}",
                        data=data,
                    )
                )
        return await invoke()

    async def _body(
        self,
        function: Any,
        is_async: bool,
        inputs: dict[str, Any],
        env: dict[str, str],
        caller: _RemoteCaller,
        data: dict[str, Any],
        stoppable: bool,
    ) -> Any:
        if env.get(mount_redirect.MOUNT_VAR):
            mount_redirect.install()  # the guide's /etc/flyte/secrets/<key> reads this task's files
        overlay = environ.overlay(env)
        token = current_body.set(BodyContext(caller, data, overlay, current_body.get().log))
        try:
            if is_async and not stoppable:
                return await function(**inputs)  # on this loop: async tasks interleave
            call = functools.partial(function, **inputs)
            body = bodies.Body(call, contextvars.copy_context(), self.loop, is_async)
            bodies.start(body)
            try:
                return await body.future
            except asyncio.CancelledError:
                body.stop()  # this task only: the worker's other tasks go on
                raise
        finally:
            current_body.reset(token)
            if environ.handed_out:
                environ.end(overlay)  # threads the body started that outlive it lose its values


class _RemoteCaller:
    """A running job's side of nested task calls: each goes to the pool's controller, which
    runs it as a child action of the job's action, and the outcome comes back."""

    def __init__(self, worker: Worker, job_id: int, spec: Any, call: dict[str, Any]):
        self.worker = worker
        self.job_id = job_id
        self.spec = spec
        self.id = call["action"]
        self.attempt = call["attempt"]
        self.report = None
        self.controller = _RunSeenFromWorker(worker, job_id, call)

    def call(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (task.is_async or call_awaited(1)):  # ``await sync_task()``: as .aio()
            return self._awaited(task, args, kwargs)  # sent when awaited, as a coroutine runs
        shield = interrupts.shield_here()
        if shield is None:
            return self._blocking(task, args, kwargs)
        # A stopped body's interruption must not land in the send or the wait for the reply.
        return interrupts.call_shielded(shield, _body_stopped, self._blocking, task, args, kwargs)

    def _blocking(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _outcome(self._send(task, args, kwargs).result())  # a sync call blocks its caller

    def aio(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._awaited(task, args, kwargs)

    async def _awaited(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _outcome(await asyncio.wrap_future(self._send(task, args, kwargs)))

    def _send(self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> concurrent.futures.Future[bytes]:
        func = task.func
        request = (
            func.__module__,
            func.__qualname__,
            task.overrides,
            args,
            kwargs,
            current_group.get(),
            current_custom_context.get(),
        )
        call_id = next(self.worker.call_ids)
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self.worker.replies[call_id] = future
        self.worker.call_contexts[call_id] = contextvars.copy_context()
        self.worker.channel.send(("call", self.job_id, call_id, cloudpickle.dumps(request)))
        return future


class _RunSeenFromWorker:
    """What a job sees of its run's controller, which lives in the pool's process: the run's
    settings (``flyte.ctx()`` reads them) and the steps ``flyte.trace`` records, sent to the
    controller as ``step`` messages (it gives each its action id, keyed by our token)."""

    __slots__ = ("disable_cache", "job_id", "run_name", "settings", "started_at", "worker")

    def __init__(self, worker: Worker, job_id: int, call: dict[str, Any]):
        self.worker = worker
        self.job_id = job_id
        self.settings = call["settings"]
        self.run_name = call["run"]
        self.started_at = call["started_at"]
        self.disable_cache = call["disable_cache"]

    def start_step(self, parent: str, **fields: Any) -> str:
        token = f"step{next(self.worker.step_tokens)}"
        self.worker.channel.send(("step", self.job_id, token, {"parent": parent, **fields}))
        return token

    def end_step(self, token: str, **fields: Any) -> None:
        self.worker.channel.send(("step", self.job_id, token, fields))


def _body_stopped() -> bool:
    body = bodies.current.get()
    return body is not None and body.stopped


def _outcome(data: bytes) -> Any:
    kind, value = shipping.read_outcome(data)
    if kind == "ok":
        return value
    raise as_user_error(rebuild(value))


def rebuild(record: dict[str, Any]) -> BaseException:
    """The exception of a :func:`flyte.shipping.pack_error` record, as itself where it
    unpickles (the other process's traceback in a note), else a ``RuntimeError`` naming it."""
    exc: Any = None
    if record.get("exception") is not None:
        try:
            exc = cloudpickle.loads(record["exception"])
        except Exception:  # its class does not import here
            exc = None
    if isinstance(exc, BaseException) and not isinstance(exc, (SystemExit, KeyboardInterrupt)):
        exc.add_note(f"traceback in the worker process:\n{record.get('traceback', '')}")
        return exc
    return RuntimeError(f"{record.get('type')}: {record.get('message')}\n\n{record.get('traceback', '')}")


_current_job: contextvars.ContextVar[int | None] = contextvars.ContextVar("flyte_pool_job", default=None)


def _relay_warnings(channel: Channel) -> None:
    """A task's warnings go to the pool's process, which issues them again: its filters (and
    ``pytest.warns``) decide, as if the task had run there. Here every warning is passed on."""
    original = warnings.showwarning

    def relay(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        job = _current_job.get()
        if job is None:
            original(message, category, filename, lineno, file, line)
            return
        try:
            channel.send(("warn", job, cloudpickle.dumps((str(message), category, filename, lineno))))
        except Exception:  # unpicklable category, closed pipe: show it here instead
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = relay
    warnings.simplefilter("always")


def _adopt(call: dict[str, Any]) -> None:
    """The calling process's settings and state root for this job (a pool outlives runs)."""
    settings = call["settings"]
    if cfg._current != settings:
        cfg._current = settings
    home = call.get("home")
    base = getattr(os.environ, "base", os.environ)
    if home and base.get("FLYTE_HOME") != home:
        base["FLYTE_HOME"] = home


def _exit_now() -> None:
    """Leave at once, stopping the processes our tasks started (they belong to the pool too)."""
    if proctree.supported():
        children: set[int] = set()
        for tid in os.listdir("/proc/self/task"):
            children |= proctree.thread_children(int(tid))
        proctree.terminate(children, grace=0)
    os._exit(0)


def die_with_parent(parent: int) -> None:
    """Have Linux send this process SIGTERM when ``parent`` dies (and leave now if it has)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(0)


def main(argv: list[str]) -> None:
    read_fd, write_fd, parent = (int(a) for a in argv)
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: _exit_now())  # the parent died (or a kill): go now
    os.set_inheritable(read_fd, False)  # a task's own child processes must not hold our pipes
    os.set_inheritable(write_fd, False)
    Worker(Channel(read_fd, write_fd)).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
