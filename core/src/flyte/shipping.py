"""Ship a task call to other Python processes and bring its outcome back.

For plugins that run the task function outside the calling process (a fresh interpreter, torch
elastic workers, ...). The sending side writes :func:`dumps_call`; the receiving side reads it
with :func:`loads_call`, runs the function, and writes :func:`pack_result` or
:func:`pack_error`; the sending side turns that back into a value or the *same* exception with
:func:`unpack_outcome`.

- The function's module travels by value when the other process could not import it by name
  (a test module, a script loaded by path); otherwise by reference, as pickle does.
- ``sys.path`` entries of the project (not the interpreter's own folders) travel with it, so
  by-reference imports resolve the same way.
- The task's context travels too (:func:`dumps_context`, :func:`enter_context`), so
  ``flyte.ctx()`` answers in the other process as in the task.
- An exception comes back as its own type when it unpickles, with the other process's
  traceback in its message (or a note); otherwise as the plugin's fallback error type carrying
  the type name, message and traceback text.
"""

from __future__ import annotations

import inspect
import os
import pickle
import site
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cloudpickle

from flyte._syspath import add_to_path

# cloudpickle's by-value registry is process-wide; one dump at a time may change it.
_pickle_lock = threading.Lock()
# The file a receiver is importing to find a shipped function (see importing_for_call).
_importing = threading.local()


class RemoteTraceback(Exception):
    """The text of another process's traceback (``__cause__`` where notes are unavailable)."""


def dumps_call(
    function: Callable[..., Any], inputs: Mapping[str, Any], by_file: bool = False, main_module: str | None = None
) -> bytes:
    """Pickle ``(sys.path entries, function, inputs)`` for :func:`loads_call`.

    ``by_file=True`` (for receivers that have flyte installed): a module-level function is
    shipped as *its module's file and name*, and the receiver imports that module (from the
    file when it cannot by name), so the function sees its real module globals (a lock, a
    client) instead of pickled copies; by value remains the fallback when that fails.
    ``main_module`` (with ``by_file``): a function of the ``__main__`` script travels the same
    way, imported under that name (so its ``if __name__ == "__main__":`` block does not run).
    """
    module = sys.modules.get(getattr(function, "__module__", "") or "")
    if by_file and module is not None and _file_reference_possible(function, module, main_module):
        try:
            fallback = _dumps_by_value(function, module)
        except Exception:  # unpicklable globals: the file is then the only way
            fallback = None
        name = main_module if module.__name__ == "__main__" else module.__name__
        reference = _FunctionInFile(module.__file__, name, function.__qualname__, fallback)
        return pickle.dumps(_project_path()) + cloudpickle.dumps((reference, dict(inputs)))
    return pickle.dumps(_project_path()) + _dumps_by_value((function, dict(inputs)), module)


def _dumps_by_value(obj: Any, module: Any) -> bytes:
    with _pickle_lock:
        register = (
            module is not None
            and not _importable(module)
            and module.__name__ not in cloudpickle.list_registry_pickle_by_value()
        )
        if register:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps(obj)
        finally:
            if register:
                cloudpickle.unregister_pickle_by_value(module)


def _file_reference_possible(function: Any, module: Any, main_module: str | None = None) -> bool:
    # Importable or not: a task's module holds the TaskTemplate under the function's name, so
    # pickle's own by-name lookup never finds the function and would ship it by value.
    return (
        (module.__name__ != "__main__" or main_module is not None)
        and getattr(module, "__file__", None) is not None
        and "<locals>" not in getattr(function, "__qualname__", "<locals>")
    )


class _FunctionInFile:
    """Unpickles as the function ``qualname`` of the module loaded from ``file``."""

    def __init__(self, file: str, module: str, qualname: str, fallback: bytes | None):
        self.args = (file, module, qualname, fallback)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_function_in_file, self.args)


def _function_in_file(file: str, module_name: str, qualname: str, fallback: bytes | None) -> Any:
    import importlib.util

    try:
        module = sys.modules.get(module_name)
        if module is None:
            try:  # by name first: a package's relative imports then resolve as usual
                module = importlib.import_module(module_name)
            except Exception:
                module = None
        if module is None or getattr(module, "__file__", None) != file:
            spec = importlib.util.spec_from_file_location(module_name, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            _importing.file = file
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)  # half run: not a module to find functions in
                raise
            finally:
                _importing.file = None
        obj: Any = module
        for part in qualname.split("."):
            obj = getattr(obj, part)
        inner = getattr(obj, "func", None)  # the module holds the task; we want its function
        return inner if callable(inner) and getattr(inner, "__qualname__", None) == qualname else obj
    except Exception:
        if fallback is None:
            raise
        return cloudpickle.loads(fallback)


# The by-value fallbacks of the script's classes, pickled once (they live as long as the script).
_script_classes: dict[type, bytes] = {}


class _ScriptClassesByReference(cloudpickle.Pickler):
    """cloudpickle, but a class of the ``__main__`` script travels as a reference to the script
    as the receiver imports it (under ``main_module``), by value only as the fallback: a value
    of the script's own class is then an instance of the receiver's class of that name
    (``isinstance``, ``==`` and ``match`` work there)."""

    def __init__(self, file: Any, main_module: str, script: str):
        super().__init__(file)
        self.main_module, self.script = main_module, script

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type) and obj.__module__ == "__main__" and _script_attr(obj.__qualname__) is obj:
            fallback = _script_classes.get(obj)
            if fallback is None:
                fallback = _script_classes[obj] = cloudpickle.dumps(obj)
            return _function_in_file, (self.script, self.main_module, obj.__qualname__, fallback)
        return super().reducer_override(obj)


def _script_attr(qualname: str) -> Any:
    found: Any = sys.modules.get("__main__")
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def dumps_to_script_importer(value: Any, main_module: str) -> bytes:
    """``cloudpickle.dumps(value)`` for a receiver that imports this process's ``__main__``
    script as ``main_module`` (a pool worker): the script's classes by reference (see
    :class:`_ScriptClassesByReference`). Plain cloudpickle when ``__main__`` is no script."""
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if not script:
        return cloudpickle.dumps(value)
    import io

    buffer = io.BytesIO()
    _ScriptClassesByReference(buffer, main_module, script).dump(value)
    return buffer.getvalue()


def importing_for_call() -> str | None:
    """The file this thread is importing to find a shipped function, if it is: module-level
    code then runs again in the receiving process (a script's unguarded ``flyte.run`` would
    start its run once more in every worker, as with multiprocessing's spawn)."""
    return getattr(_importing, "file", None)


def loads_call(data: bytes) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The ``(function, inputs)`` written by :func:`dumps_call`; extends ``sys.path`` first."""
    import io

    stream = io.BytesIO(data)
    path = pickle.load(stream)
    add_to_path(*path)  # after the standard library: a user's json.py must not replace json
    function, inputs = pickle.load(stream)
    return function, inputs


def call(function: Callable[..., Any], inputs: Mapping[str, Any]) -> Any:
    """Call the function; a coroutine function runs to completion on a new event loop.

    Called in a worker process started for a task that mounts secrets (its environment has
    ``FLYTE_SECRETS_MOUNT``), the guide's ``/etc/flyte/secrets/<key>`` reads the task's files.
    """
    from flyte.runtime import mount_redirect

    mount_redirect.for_process(os.environ.get(mount_redirect.MOUNT_VAR))
    result = function(**inputs)
    if inspect.iscoroutine(result):
        import asyncio

        result = asyncio.run(result)
    return result


def dumps_context(context: Any) -> bytes:
    """The task's context (``TaskCall.context``) for :func:`enter_context` in another process:
    what ``flyte.ctx()`` says there (action, attempt, run folders, custom context, the attempt's
    checkpoint), without what stays in this process (the running action, the report, engine
    handles in ``data``)."""
    if context is not None:
        import attrs

        from flyte._checkpoint import CHECKPOINT_DATA_KEY

        checkpoint = context.checkpoint
        data = {} if checkpoint is None else {CHECKPOINT_DATA_KEY: checkpoint}
        context = attrs.evolve(context, caller=None, report=None, data=data)
    return pickle.dumps(context)


def enter_context(data: bytes, *, restarted: bool = False) -> Any:
    """Make the context written by :func:`dumps_context` this process's ``flyte.ctx()``, and
    return it. ``restarted``: this process starts the body over within the same attempt (a
    torchrun restart, a clustered set's restart), so the checkpoint's ``load`` also finds what
    the attempt itself saved before."""
    from flyte import _task_context
    from flyte._checkpoint import CHECKPOINT_DATA_KEY

    context = pickle.loads(data)
    if context is not None:
        checkpoint = context.data.get(CHECKPOINT_DATA_KEY)
        if checkpoint is not None and restarted:
            context.data[CHECKPOINT_DATA_KEY] = checkpoint.after_restart()
        _task_context.enter_process_context(context)
    return context


def pack_result(value: Any, main_module: str | None = None) -> bytes:
    """The pickled outcome of a call that returned ``value`` (``main_module``: the receiver
    imports this process's script under that name, see :func:`dumps_to_script_importer`).

    Raises ``TypeError`` naming the value's type when it cannot be pickled.
    """
    try:
        blob = cloudpickle.dumps(value) if main_module is None else dumps_to_script_importer(value, main_module)
        return pickle.dumps(("ok", blob))
    except Exception as exc:
        raise TypeError(f"the task's result ({_type_name(type(value))}) cannot be pickled: {exc}") from exc


def pack_error(exc: BaseException, **extra: Any) -> bytes:
    """The pickled outcome of a call that raised ``exc`` (call inside the ``except`` block).

    ``extra`` (e.g. ``rank=3``) travels with it and comes back from :func:`read_error`.
    """
    text = "".join(traceback.format_exception(exc))
    try:
        blob = cloudpickle.dumps(exc)
    except Exception:
        blob = None
    record = {
        "type": _type_name(type(exc)),
        "message": str(exc),
        "traceback": text,
        "exception": blob,
        "time": time.time(),
        **extra,
    }
    return pickle.dumps(("error", record))


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` so that readers never see half of it."""
    tmp = f"{os.fspath(path)}.part-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_outcome(data: bytes) -> tuple[str, Any]:
    """``("ok", value)`` or ``("error", record)`` from :func:`pack_result`/:func:`pack_error`."""
    kind, payload = pickle.loads(data)
    if kind == "ok":
        return kind, cloudpickle.loads(payload)
    return kind, payload


def rebuild_error(
    record: Mapping[str, Any],
    fallback: Callable[[str], Exception],
    heading: str = "traceback in the worker process:",
) -> Exception:
    """The exception a :func:`pack_error` record describes, as itself when it unpickles here.

    The other process's traceback goes into the message when the exception is a plain message,
    otherwise into a note. When it cannot be rebuilt (its class does not import here, it is a
    ``SystemExit``/``KeyboardInterrupt`` the caller must not act on), ``fallback(text)`` makes
    the error from ``"<type>: <message>"`` and the traceback.
    """
    tb_text = record.get("traceback", "")
    exc: Any = None
    if record.get("exception") is not None:
        try:
            exc = cloudpickle.loads(record["exception"])
        except Exception:  # its class or arguments do not rebuild here: fall back to text
            exc = None
    if not isinstance(exc, Exception):
        return fallback(f"{record.get('type')}: {record.get('message')}\n\n{heading}\n{tb_text}")
    if len(exc.args) == 1 and isinstance(exc.args[0], str) and str(exc) == exc.args[0]:
        # A plain message: put the traceback in it, so run records and logs show it.
        exc.args = (f"{exc.args[0]}\n\n{heading}\n{tb_text}",)
    elif hasattr(exc, "add_note"):  # KeyError('k'), OSError(errno, msg), custom __str__: keep args
        exc.add_note(f"{heading}\n{tb_text}")
    else:
        exc.__cause__ = RemoteTraceback(tb_text)
    return exc


def describe_exit(returncode: int) -> str:
    """``"exited with status 1"`` / ``"was killed by SIGKILL"``."""
    if returncode < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _type_name(cls: type) -> str:
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


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


def _project_path() -> list[str]:
    """Our ``sys.path`` minus the interpreter's own folders (stdlib, site-packages)."""
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
