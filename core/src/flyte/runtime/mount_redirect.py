"""The guide's ``/etc/flyte/secrets/<key>`` inside a local task: redirected to the task's folder.

A task that mounts secrets reads them at the guide's fixed path. Locally the files live in a
private folder per task attempt (:mod:`.secret_mounts`), named in the task's
``FLYTE_SECRETS_MOUNT``. Once the first such task runs, the file functions below are wrapped:
while a task runs, a path under ``/etc/flyte/secrets`` is replaced by the same path under that
task's ``FLYTE_SECRETS_MOUNT``; anywhere else (a task without mounted secrets, code outside a
task) paths are left alone. In a worker process a plugin started for a task (torch ranks),
:func:`for_process` redirects for the whole process.

Covered: ``open``/``io.open`` (so ``pathlib.Path.open``, ``read_text``, ``read_bytes``),
``os.open``, ``os.stat``/``os.lstat`` (so ``os.path.exists``/``isfile``/``isdir``/``getsize`` and
``Path.exists``/``is_file``), ``os.access``, ``os.listdir`` and ``os.scandir`` (``Path.iterdir``).
Not covered: other processes (``subprocess.run(["cat", "/etc/flyte/secrets/k"])`` must use
``$FLYTE_SECRETS_MOUNT``), C code that opens files itself (``ssl.SSLContext.load_cert_chain``
given the guide's path, a database driver reading a key file), relative paths, names bound
before the first mounting task ran (``from os import stat``), and threads a task starts itself
(they do not inherit its context, as with its environment variables).
"""

from __future__ import annotations

import builtins
import functools
import io
import os
import posixpath
import threading
from collections.abc import Callable
from typing import Any

from flyte.runtime import environ
from flyte.secret import SECRETS_MOUNT

MOUNT_VAR = "FLYTE_SECRETS_MOUNT"
_PREFIX = SECRETS_MOUNT + "/"

_lock = threading.Lock()
_installed = False
_process_target: str | None = None


def _target() -> str | None:
    overlay = environ.task_overlay()
    if overlay is not None:  # inside a task: its own folder, or none at all
        value = overlay.get(MOUNT_VAR)
        return value if isinstance(value, str) else None
    return _process_target


def redirect(path: Any) -> Any:
    """``path`` with the guide's mount folder replaced by the current task's, if it has one."""
    if isinstance(path, int):
        return path
    target = _target()
    if target is None:
        return path
    try:
        raw = os.fspath(path)
    except TypeError:
        return path
    text = os.fsdecode(raw)
    if not text.startswith("/etc/"):
        return path
    norm = posixpath.normpath(text)
    if norm == SECRETS_MOUNT:
        moved = target
    elif norm.startswith(_PREFIX):
        moved = target + norm[len(SECRETS_MOUNT) :]
    else:
        return path
    return os.fsencode(moved) if isinstance(raw, bytes) else moved


def _wrap(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
        return func(redirect(path), *args, **kwargs)

    wrapper.__flyte_wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


def _wrap_optional_path(func: Callable[..., Any]) -> Callable[..., Any]:
    """For ``os.listdir``/``os.scandir``, whose path may be omitted."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            args = (redirect(args[0]), *args[1:])
        elif "path" in kwargs:
            kwargs["path"] = redirect(kwargs["path"])
        return func(*args, **kwargs)

    wrapper.__flyte_wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    """Wrap the file functions (once per process; a no-op afterwards)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        opener = _wrap(io.open)
        builtins.open = opener
        io.open = opener
        for name in ("open", "stat", "lstat", "access", "listdir", "scandir"):
            original = getattr(os, name)
            wrapper = _wrap_optional_path(original) if name in ("listdir", "scandir") else _wrap(original)
            setattr(os, name, wrapper)
            # Code that asks `os.stat in os.supports_dir_fd` must get the same answer.
            for supported in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks):
                if original in supported:
                    supported.add(wrapper)
        _installed = True


def for_process(target: str | None) -> None:
    """Redirect the guide's path to ``target`` for this whole process (a worker started for
    one task, which received the task's ``FLYTE_SECRETS_MOUNT``)."""
    global _process_target
    if not target or target == SECRETS_MOUNT:
        return
    _process_target = target
    install()
