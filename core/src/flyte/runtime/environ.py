"""Per-task environment variables in one process.

A task's ``env_vars`` and secrets must be visible through ``os.environ``/``os.getenv`` while it
runs, and only to it: two tasks running at once with different values each see their own.
``os.environ`` is process-wide, so we replace it (once, on the first local run) with a mapping
that reads a context-local overlay first and the real environment second. Context variables
follow asyncio tasks and the threads we start for sync tasks, so every task sees its overlay.

A thread a task body starts sees the task's environment too, as threads share a container's:
``threading.Thread.start`` hands the new thread the starter's overlay, and
``ThreadPoolExecutor.submit`` (``executor.map``, ``loop.run_in_executor``) runs each item with
its submitter's, as ``asyncio.to_thread`` (which copies the whole context) already did. Only
the environment: ``flyte.ctx()`` and calling tasks stay where they were (Python 3.11 threads
start with no context). An executor's worker threads take none at start: they serve whoever
submits next. flyte's own threads and executors (named ``flyte-...``) keep the process's
environment: they outlive the task that happened to start them and serve others. A thread a
task starts that outlives it (a library's lazily started background thread, an item still
queued on an executor) sees the process's environment once the task has ended (:func:`end`):
it may serve later tasks, which must not see this one's secrets; in a container it would have
ended with the task. A ``ProcessPoolExecutor``'s items likewise each run with their
submitter's environment, in forked and spawned workers alike (:class:`InEnviron`).

A child process inherits the C environment, not the overlay: ``subprocess`` (and what runs
through it: ``os.popen``, ``asyncio.create_subprocess_exec``) is patched to hand a task's
children the environment the task sees when the caller passes no ``env``, as a container's
children would get it. ``os.system`` called in a task runs its command through ``subprocess``
too (its output then reaches the attempt's log, as a container's would), otherwise exactly as
``system(3)`` does (:mod:`flyte.runtime.os_system`). ``os.execv`` in a task is ``os.execve``
with that environment: every exec and spawn function without an ``env`` (``execl``,
``execlp``, ``execvp``, ``spawnv``, ``spawnlp``, ...) ends in it. The task's variables never
enter the C environment, which is the process's: a task running at the same time would hand
them on too. What starts a process below Python (a C library's own ``fork``/``exec``,
``multiprocessing``'s spawn start method) gets the process's environment: pass
``env=dict(os.environ)`` where a function takes one (plugins get it as ``TaskCall.environ``).
"""

from __future__ import annotations

import functools
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import thread as _futures_thread
from contextvars import Context, Token
from typing import Any

from flyte._context import NO_BODY, BodyContext, current_body

_REMOVED = object()


class OverlayEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-context overlay on top; writes inside a task stay in it."""

    def __init__(self, base: MutableMapping[str, str]):
        self._base = base

    @property
    def base(self) -> MutableMapping[str, str]:
        return self._base

    def __getitem__(self, key: str) -> str:
        overlay = current_body.get().environ
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is _REMOVED:
                raise KeyError(key)
            return value
        return self._base[key]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        # Mapping.get's own layers (a try around __getitem__, then os.environ's) cost as much as
        # the lookup: every run reads several settings (FLYTE_HOME, FLYTE_LOG_CAPTURE, ...).
        overlay = current_body.get().environ
        if overlay is not None and key in overlay:
            value = overlay[key]
            return default if value is _REMOVED else value
        return self._base.get(key, default)

    def __setitem__(self, key: str, value: str) -> None:
        overlay = current_body.get().environ
        if isinstance(overlay, dict):  # inside a task: the write belongs to the task
            overlay[key] = value
        else:
            self._base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = current_body.get().environ
        if isinstance(overlay, dict):
            if key not in self:
                raise KeyError(key)
            overlay[key] = _REMOVED  # type: ignore[assignment]
        else:
            del self._base[key]

    def _keys(self) -> dict[str, None]:
        keys = dict.fromkeys(self._base)
        for key, value in (current_body.get().environ or {}).items():
            if value is _REMOVED:
                keys.pop(key, None)
            else:
                keys[key] = None
        return keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, key: object) -> bool:
        overlay = current_body.get().environ
        if overlay is not None and key in overlay:
            return overlay[key] is not _REMOVED  # type: ignore[index]
        return key in self._base

    def copy(self) -> dict[str, str]:
        return dict(self.items())

    def __repr__(self) -> str:
        return f"OverlayEnviron({len(self)} variables)"

    # os._Environ's extras that libraries call
    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def install() -> None:
    """Replace ``os.environ`` with the overlay mapping and let ``subprocess`` children of a
    task inherit what it sees (idempotent)."""
    global _patched
    if not isinstance(os.environ, OverlayEnviron):
        os.environ = OverlayEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 (deliberate: we wrap it)
    if not _patched:
        _patch_popen()
        _patch_system()
        _patch_execv()
        _patch_threads()
        _patched = True


_patched = False
_ENV_POSITION = 10  # Popen(args, bufsize, executable, stdin, stdout, stderr, preexec_fn, close_fds, shell, cwd, env)


def _patch_popen() -> None:
    original = subprocess.Popen.__init__

    def init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        if kwargs.get("env") is None and len(args) <= _ENV_POSITION and current_body.get().environ:
            kwargs["env"] = visible()  # the task's env_vars and secrets, as in its container
        original(self, *args, **kwargs)

    subprocess.Popen.__init__ = init  # type: ignore[method-assign]


# flyte's own threads, and its executors' thread_name_prefix, start so: they serve many tasks.
FLYTE_THREADS = "flyte-"
# The function an executor's worker thread runs (None if a Python version renames it).
_EXECUTOR_WORKER = getattr(_futures_thread, "_worker", None)


def _patch_threads() -> None:
    start = threading.Thread.start
    submit = ThreadPoolExecutor.submit

    def start_here(self: threading.Thread) -> None:
        environ = current_body.get().environ
        if (
            environ is not None  # (outside a task body: nothing to hand on, nothing more to pay)
            and not self.name.startswith(FLYTE_THREADS)
            and (_EXECUTOR_WORKER is None or getattr(self, "_target", None) is not _EXECUTOR_WORKER)
        ):
            self.run = _with_environ(environ, self.run)  # type: ignore[method-assign]
        start(self)

    def submit_here(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        environ = current_body.get().environ
        if (
            environ is not None
            and not _runs_in_a_context(fn)
            and not getattr(self, "_thread_name_prefix", "").startswith(FLYTE_THREADS)
        ):
            fn = _with_environ(environ, fn)
        return submit(self, fn, *args, **kwargs)

    start_here.__doc__ = start.__doc__
    submit_here.__doc__ = submit.__doc__
    threading.Thread.start = start_here  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = submit_here  # type: ignore[method-assign]
    _patch_process_pools()


def _patch_process_pools() -> None:
    # A ProcessPoolExecutor's workers are forked (Linux's default) from whichever thread first
    # submits, and keep its context: one made in a task handed that task's values to every
    # later item, other tasks' and callers' outside tasks too. So each item carries its
    # submitter's environment (picklable: the worker may be spawned) once the pool was used in
    # a task; a pool only ever used outside tasks is left as it is.
    submit = ProcessPoolExecutor.submit

    def submit_here(self: ProcessPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        environ = current_body.get().environ
        if environ is not None:
            self._flyte_in_task = True  # type: ignore[attr-defined]
            fn = InEnviron(fn, environ)
        elif getattr(self, "_flyte_in_task", False):
            fn = InEnviron(fn, None)
        return submit(self, fn, *args, **kwargs)

    submit_here.__doc__ = submit.__doc__
    ProcessPoolExecutor.submit = submit_here  # type: ignore[method-assign]


class InEnviron:
    """A process pool's item run with its submitter's environment (None: the process's)."""

    __slots__ = ("fn", "removed", "values")

    def __init__(self, fn: Callable[..., Any], environ: Mapping[str, Any] | None):
        self.fn = fn
        self.values = None if environ is None else {k: v for k, v in environ.items() if v is not _REMOVED}
        self.removed = () if environ is None else tuple(k for k, v in environ.items() if v is _REMOVED)

    def __getstate__(self) -> tuple[Any, ...]:
        return self.fn, self.values, self.removed

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.fn, self.values, self.removed = state

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        environ: dict[str, Any] | None = None
        if self.values is not None:
            install()  # (a spawned worker: os.environ is the plain one until now)
            environ = {**self.values, **dict.fromkeys(self.removed, _REMOVED)}
        token = current_body.set(current_body.get().but(environ=environ))
        try:
            return self.fn(*args, **kwargs)
        finally:
            current_body.reset(token)


def _runs_in_a_context(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is a ``Context.run`` (``partial(ctx.run, ...)``: ``asyncio.to_thread``'s,
    ``loop.run_in_executor``'s callers that copied the context): it brings its own overlay."""
    if type(fn) is functools.partial:
        fn = fn.func
    return type(getattr(fn, "__self__", None)) is Context


def _with_environ(environ: dict[str, Any], fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run with ``environ`` as its overlay (and nothing else of a body's context), until
    the body that owns ``environ`` ends (:func:`end`)."""
    body = _handed(environ)

    def run(*args: Any, **kwargs: Any) -> Any:
        token = current_body.set(body)
        try:
            return fn(*args, **kwargs)
        finally:
            current_body.reset(token)

    return run


def _patch_system() -> None:
    original = os.system

    def system(command: Any) -> int:
        if current_body.get() is NO_BODY:
            return original(command)
        if os.name == "nt":  # its exit code is its result
            return subprocess.call(command, shell=True)
        from flyte.runtime import interrupts, os_system  # (ctypes: loaded when a task first calls os.system)

        shield = interrupts.shield_here()
        if shield is None:  # not a body's thread: nothing interrupts it
            return os_system.system(command)
        # flyte's code, where a stop of the body waits for the call to return: landing between
        # ignoring SIGINT/SIGQUIT and counting the call, it left them ignored for good. (The
        # command itself is ended by the stop, with the rest of the body's processes.)
        return interrupts.call_shielded(shield, _body_stopped, os_system.system, command)

    system.__doc__ = original.__doc__
    os.system = system


def _body_stopped() -> bool:
    from flyte.runtime import bodies

    body = bodies.current.get()
    return body is not None and body.stopped


def _patch_execv() -> None:
    # os.py's exec*p/exec*l and (through a fork) spawn* without an env all call os.execv by
    # its module-level name, so replacing it covers them.
    original = os.execv

    def execv(path: Any, argv: Any, /) -> None:
        if not current_body.get().environ:
            original(path, argv)
            return
        # execv's own checks first: a bad argv reads as the execv error the caller made
        if not isinstance(argv, (tuple, list)):
            raise TypeError("execv() arg 2 must be a tuple or list")
        if not argv:
            raise ValueError("execv() arg 2 must not be empty")
        if not os.fsencode(argv[0]):
            raise ValueError("execv() arg 2 first element cannot be empty")
        os.execve(path, argv, visible())  # the task's env_vars and secrets, as in its container

    execv.__doc__ = original.__doc__
    os.execv = execv


# id(overlay) -> (overlay, the context the threads its body started run with): made on a body's
# first thread, dropped when the body ends (the overlay held: its id is not reused meanwhile).
# Bodies that start no thread cost their end one truth test of this dict (see :func:`end`).
handed_out: dict[int, tuple[dict[str, Any], BodyContext]] = {}


def _handed(environ: dict[str, Any]) -> BodyContext:
    """The context the threads and executor items a body starts run with: one per body, so
    its end can take the environment back from all of them (:func:`end`)."""
    entry = handed_out.get(id(environ))
    if entry is None or entry[0] is not environ:
        entry = handed_out.setdefault(id(environ), (environ, BodyContext(None, None, environ, None)))
    return entry[1]


def end(environ: Any) -> None:
    """The body whose overlay is ``environ`` has ended: the threads it started (and items it
    submitted that have not run yet) see the process's environment from now on, as threads
    outside tasks do; a later task they serve must not see this one's values. (Callers on a
    hot path test ``handed_out`` first.)"""
    entry = handed_out.get(id(environ))
    if entry is not None and entry[0] is environ:
        del handed_out[id(environ)]
        # (The one BodyContext changed in place: it is only ever the current context of
        # threads this body started, never a body's own.)
        entry[1].environ = None


def task_overlay() -> Mapping[str, str] | None:
    """The running task's own variables (None outside a task); a removed one is not a str."""
    return current_body.get().environ


def visible() -> dict[str, str]:
    """The environment the current task sees, as a plain dict (for child processes)."""
    return dict(os.environ.items())


def overlay(values: Mapping[str, str]) -> dict[str, str]:
    """The overlay a body with the variables ``values`` gets (its own copy: its writes to
    ``os.environ`` stay in it). A task sees its own values, not its caller's: on a cluster each
    task has its own container."""
    return dict(values) if values else {}  # (a frozen mapping iterates in Python)


def enter(values: Mapping[str, str]) -> Token[BodyContext]:
    """Make ``values`` visible in ``os.environ`` for the current context until :func:`leave`
    (the rest of the body's context as it is)."""
    return current_body.set(current_body.get().but(environ=overlay(values)))


def leave(token: Token[BodyContext]) -> None:
    ending = current_body.get().environ
    current_body.reset(token)
    if handed_out:
        end(ending)
