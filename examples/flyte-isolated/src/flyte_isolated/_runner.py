"""Run one attempt of a task in a fresh Python process.

The function and its inputs are pickled to a temporary file; the child unpickles them, runs the
function (awaiting it when it is a coroutine function) and pickles back either the result or
the exception with its formatted traceback. The parent re-raises the same exception type with
the child's traceback in its message. If the awaiting coroutine is cancelled (a timeout,
Ctrl-C), the child is killed: no orphans.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import cloudpickle

from flyte.plugin_types import TaskCall

BOOTSTRAP = """
import asyncio, inspect, sys, traceback
import cloudpickle
with open(sys.argv[1], "rb") as f:
    func, inputs = cloudpickle.load(f)
try:
    result = func(**inputs)
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    payload = ("ok", result, None)
except BaseException as exc:
    payload = ("error", exc, traceback.format_exc())
with open(sys.argv[2], "wb") as f:
    try:
        cloudpickle.dump(payload, f)
    except Exception as exc:  # an unpicklable result or exception
        cloudpickle.dump(("error", RuntimeError(repr(payload[1])), traceback.format_exc()), f)
"""


class IsolatedTaskError(RuntimeError):
    """The child process died without reporting a result."""


async def run(call: TaskCall) -> Any:
    config = call.spec.plugin_config
    python = config.python or sys.executable
    with tempfile.TemporaryDirectory(prefix="flyte-isolated-") as tmp:
        request, response = Path(tmp) / "request.pkl", Path(tmp) / "response.pkl"
        request.write_bytes(cloudpickle.dumps((call.function, dict(call.inputs))))
        env = {**call.environ, **(config.env or {}), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        child = await asyncio.create_subprocess_exec(python, "-c", BOOTSTRAP, str(request), str(response), env=env)
        try:
            code = await child.wait()
        except BaseException:
            child.kill()
            await child.wait()
            raise
        if not response.exists():
            raise IsolatedTaskError(f"{call.spec.name}: the isolated process exited with code {code} and no result")
        status, value, trace = cloudpickle.loads(response.read_bytes())
    if status == "ok":
        return value
    if isinstance(value, BaseException):
        value.add_note(f"in the isolated process:\n{trace}")
        raise value
    raise IsolatedTaskError(f"{call.spec.name}: {value}\n{trace}")
