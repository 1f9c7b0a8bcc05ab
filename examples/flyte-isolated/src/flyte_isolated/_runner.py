"""Run one attempt of a task in a fresh Python process.

The parent writes two pickles to a temporary file: the ``sys.path`` entries the child needs
(the project's folders, not the interpreter's own) and, with cloudpickle, the task function and
its inputs. It starts ``<python> -c BOOTSTRAP <in> <out>``; the child runs the function (with
``asyncio.run`` when it returns a coroutine) and writes back either the pickled result or the
error: its type, message, traceback text and, when it pickles, the exception itself.

The parent awaits the child without blocking the event loop. If that await is cancelled (a
timeout, a cancelled run, Ctrl-C), the child's whole process group is killed first.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import site
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import cloudpickle

from flyte.plugin_types import TaskCall
from flyte_isolated.config import Isolated
from flyte_isolated.errors import IsolatedProcessError

# Runs in the child with only the standard library and cloudpickle (needed to unpickle the
# function). Every failure, unpickling included, is written back rather than printed.
BOOTSTRAP = r"""
import asyncio, inspect, os, pickle, sys, traceback

def main(src, dst):
    with open(src, "rb") as f:
        path = pickle.load(f)
        sys.path[:0] = [p for p in path if p not in sys.path]
        try:
            function, inputs = pickle.load(f)
            result = function(**inputs)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
        except BaseException as exc:
            out = ("error", _name(type(exc)), str(exc), traceback.format_exc(), _dumps(exc))
        else:
            try:
                out = ("ok", _dumps(result, strict=True))
            except Exception as exc:
                error = TypeError(f"the task's result ({_name(type(result))}) cannot be pickled: {exc}")
                out = ("error", "TypeError", str(error), traceback.format_exc(), _dumps(error))
    with open(dst + ".part", "wb") as f:
        pickle.dump(out, f)
    os.replace(dst + ".part", dst)  # the parent never reads half a file

def _name(cls):
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"

def _dumps(value, strict=False):
    import cloudpickle
    try:
        return cloudpickle.dumps(value)
    except Exception:
        if strict:
            raise
        return None

main(sys.argv[1], sys.argv[2])
"""

HEADING = "traceback in the isolated process:"

# cloudpickle's by-value registry is process-wide; one dump at a time may change it.
_pickle_lock = threading.Lock()


class ChildTraceback(Exception):
    """The traceback of an exception raised in the child (``__cause__`` where notes are missing)."""


async def run(call: TaskCall) -> Any:
    """Run ``call.function(**call.inputs)`` in a new interpreter and return its result.

    The child's environment is this process's, then ``call.environ``, then ``Isolated.env``.
    An exception in the child is raised here as the same type when it unpickles; otherwise an
    :class:`IsolatedProcessError` carries its type, message and traceback.
    """
    config: Isolated = call.spec.plugin_config
    interpreter = config.interpreter()
    env = {**os.environ, **call.environ, **(config.env or {})}
    with tempfile.TemporaryDirectory(prefix="flyte-isolated-") as tmp:
        src, dst = os.path.join(tmp, "call.pkl"), os.path.join(tmp, "result.pkl")
        with open(src, "wb") as f:
            pickle.dump(_child_path(), f)
            f.write(_dumps_call(call))
        returncode = await _run_child(interpreter, [src, dst], env)
        if not os.path.exists(dst):
            raise IsolatedProcessError(
                f"{call.spec.name}: the child process ({interpreter}) {_describe_exit(returncode)} "
                "without reporting a result"
            )
        with open(dst, "rb") as f:
            outcome = pickle.load(f)
    if outcome[0] == "ok":
        return cloudpickle.loads(outcome[1])
    _, type_name, message, tb_text, blob = outcome
    raise _child_exception(call.spec.name, type_name, message, tb_text, blob)


async def _run_child(interpreter: str, args: list[str], env: dict[str, str]) -> int:
    """Start the bootstrap, wait for it, and kill it if this coroutine is cancelled."""
    try:
        proc = await asyncio.create_subprocess_exec(
            interpreter,
            "-c",
            BOOTSTRAP,
            *args,
            env=env,
            # Its own process group, so a kill reaches whatever the task started too.
            start_new_session=os.name == "posix",
        )
    except OSError as exc:
        raise IsolatedProcessError(f"Isolated.python: cannot start {interpreter!r}: {exc}") from exc
    try:
        return await proc.wait()
    finally:
        if proc.returncode is None:  # cancelled (or the wait failed): leave no orphan behind
            _kill(proc)
            await proc.wait()


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:  # it exited between the check and the kill
        pass


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _dumps_call(call: TaskCall) -> bytes:
    """cloudpickle (function, inputs), shipping the function's module by value when the
    child could not import it by name (a test module, a file loaded by path)."""
    module = sys.modules.get(call.function.__module__)
    with _pickle_lock:
        register = (
            module is not None
            and not _importable(module)
            and module.__name__ not in cloudpickle.list_registry_pickle_by_value()
        )
        if register:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps((call.function, dict(call.inputs)))
        finally:
            if register:
                cloudpickle.unregister_pickle_by_value(module)


def _importable(module: Any) -> bool:
    """Whether ``import <module.__name__>`` from our ``sys.path`` finds the module's own file."""
    if module.__name__ == "__main__":
        return True  # cloudpickle already ships __main__ by value
    file = getattr(module, "__file__", None)
    if not file:
        return True  # built-in or namespace: nothing of ours to ship
    path = Path(file).resolve()
    stem = path.name.split(".")[0]
    where = path.parent if stem == "__init__" else path.with_name(stem)
    parts = tuple(module.__name__.split("."))
    if where.parts[-len(parts) :] != parts:
        return False
    return where.parents[len(parts) - 1] in _search_roots()


def _search_roots() -> set[Path]:
    return {Path(p or os.getcwd()).resolve() for p in sys.path if os.path.isdir(p or ".")}


def _child_path() -> list[str]:
    """Our ``sys.path`` minus the interpreter's own folders (stdlib, site-packages), which
    another interpreter has its own versions of; the child prepends what it lacks."""
    own = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if user_site:
        own.add(Path(user_site).resolve())
    entries = []
    for p in sys.path:
        resolved = Path(p or os.getcwd()).resolve()
        if not any(resolved == o or o in resolved.parents for o in own):
            entries.append(str(resolved))
    return entries


def _child_exception(task: str, type_name: str, message: str, tb_text: str, blob: bytes | None) -> Exception:
    """The child's exception, as itself when possible, with the child's traceback attached."""
    exc: Any = None
    if blob is not None:
        try:
            exc = cloudpickle.loads(blob)
        except Exception:  # its class or arguments do not rebuild here: fall back to text
            exc = None
    if not isinstance(exc, Exception):  # also SystemExit/KeyboardInterrupt: not the parent's to act on
        return IsolatedProcessError(f"{task}: {type_name}: {message}\n\n{HEADING}\n{tb_text}")
    if len(exc.args) == 1 and isinstance(exc.args[0], str) and str(exc) == exc.args[0]:
        # A plain message: put the traceback in it, so run records and logs show it.
        exc.args = (f"{message}\n\n{HEADING}\n{tb_text}",)
    elif hasattr(exc, "add_note"):  # KeyError('k'), OSError(errno, msg), custom __str__: keep args
        exc.add_note(f"{HEADING}\n{tb_text}")
    else:  # Python 3.10: no notes, so chain the text the way concurrent.futures does
        exc.__cause__ = ChildTraceback(tb_text)
    return exc
