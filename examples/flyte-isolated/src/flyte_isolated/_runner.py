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
import tempfile
from typing import Any

import cloudpickle

from flyte.extend import TaskCall, shipping
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


async def run(call: TaskCall) -> Any:
    """Run ``call.function(**call.inputs)`` in a new interpreter and return its result.

    The child's environment is this process's, then ``call.environ``, then ``Isolated.env``.
    An exception in the child is raised here as the same type when it unpickles; otherwise an
    :class:`IsolatedProcessError` carries its type, message and traceback.

    The parent side uses the core's public :mod:`flyte.shipping` (the same call format); the
    child side is the stdlib-and-cloudpickle BOOTSTRAP, so the other interpreter needs no flyte.
    """
    config: Isolated = call.spec.plugin_config
    interpreter = config.interpreter()
    env = {**os.environ, **call.environ, **(config.env or {})}
    with tempfile.TemporaryDirectory(prefix="flyte-isolated-") as tmp:
        src, dst = os.path.join(tmp, "call.pkl"), os.path.join(tmp, "result.pkl")
        with open(src, "wb") as f:
            f.write(shipping.dumps_call(call.function, call.inputs))
        returncode = await _run_child(interpreter, [src, dst], env)
        if not os.path.exists(dst):
            raise IsolatedProcessError(
                f"{call.spec.name}: the child process ({interpreter}) {shipping.describe_exit(returncode)} "
                "without reporting a result"
            )
        with open(dst, "rb") as f:
            outcome = pickle.load(f)
    if outcome[0] == "ok":
        return cloudpickle.loads(outcome[1])
    _, type_name, message, tb_text, blob = outcome
    record = {"type": type_name, "message": message, "traceback": tb_text, "exception": blob}
    raise shipping.rebuild_error(
        record, fallback=lambda text: IsolatedProcessError(f"{call.spec.name}: {text}"), heading=HEADING
    )


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
