"""``os.system`` inside a task, as ``system(3)`` runs it in a container.

The command runs as ``/bin/sh -c command`` started through ``subprocess`` (so the child gets
the task's environment and its output reaches the attempt's log, see :mod:`flyte.runtime.environ`
and :mod:`flyte.runtime.logs`), and the rest is ``system(3)``'s: the argument is converted as
``os.system`` converts it (the same ``TypeError``/``ValueError``), the result is the raw wait
status (a core dump keeps its bit), and SIGINT and SIGQUIT are ignored by the whole process
while it waits, then restored.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

_INTERRUPTS = (signal.SIGINT, signal.SIGQUIT)
# struct sigaction is 152 bytes on glibc/x86-64 and smaller elsewhere; its first member is the
# handler on Linux and macOS, which is all we change.
_SIGACTION_BYTES = 512


def system(command: Any) -> int:
    """Run ``command`` with ``/bin/sh -c`` and return its wait status, as ``os.system`` does."""
    sys.audit("os.system", (command,))
    line = os.fsencode(command)  # os.system's own conversion, with its TypeError for a list or an int
    if b"\0" in line:
        raise ValueError("embedded null byte")
    # As system(3): the caller ignores the signals from before the start (a Ctrl-C while the
    # command runs is the command's to act on, not the run's) and the shell gets back the
    # dispositions the caller had (an ignored signal would stay ignored across exec).
    with _interrupts_ignored() as handled:
        try:
            child = subprocess.Popen([b"sh", b"-c", line], executable="/bin/sh", preexec_fn=_defaults(handled))
        except OSError:
            return -1  # system(3) when it cannot start the shell
        return _wait_status(child)


def _defaults(signums: tuple[int, ...]) -> Callable[[], None] | None:
    if not signums:
        return None

    def reset() -> None:  # in the child, between fork and exec
        for signum in signums:
            signal.signal(signum, signal.SIG_DFL)

    return reset


def _wait_status(child: subprocess.Popen[Any]) -> int:
    try:
        _, status = os.waitpid(child.pid, 0)
    except ChildProcessError:  # reaped by a poll() elsewhere (the attempt ending): only its code is left
        code = child.wait()
        return -code if code < 0 else code << 8
    child.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
    return status


_lock = threading.Lock()
_waiting = 0  # os.system calls waiting now: the first ignores the signals, the last restores them
_saved: dict[int, ctypes.Array[ctypes.c_char]] = {}


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[tuple[int, ...]]:
    """Ignore SIGINT and SIGQUIT in the whole process until the last caller leaves; yields the
    ones that were not ignored before (a child should get them back at their default)."""
    # signal.signal works in the main thread only and a sync task runs in another one, so the
    # process-wide disposition is set with sigaction(2) itself, as system(3) does; the previous
    # one (Python's handler, flags and all) is put back byte for byte.
    global _waiting
    with _lock:
        if _waiting == 0:
            for signum in _INTERRUPTS:
                _saved[signum] = _ignore(signum)
        _waiting += 1
        handled = tuple(signum for signum, previous in _saved.items() if _handler(previous) != signal.SIG_IGN)
    try:
        yield handled
    finally:
        with _lock:
            _waiting -= 1
            if _waiting == 0:
                for signum, previous in _saved.items():
                    _sigaction(signum, previous, None)
                _saved.clear()


def _forked() -> None:
    # A child forked while another thread waits here (a multiprocessing worker of another task)
    # has no call to wait for: it gets the dispositions back, or would ignore them for good.
    global _lock, _waiting
    _lock = threading.Lock()  # (it may have been held by a thread the child does not have)
    if _waiting:
        for signum, previous in _saved.items():
            _sigaction(signum, previous, None)
        _saved.clear()
        _waiting = 0


os.register_at_fork(after_in_child=_forked)


def _handler(action: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.c_void_p.from_buffer(action).value or 0  # (SIG_DFL is a null pointer)


def _ignore(signum: int) -> ctypes.Array[ctypes.c_char]:
    previous = ctypes.create_string_buffer(_SIGACTION_BYTES)
    _sigaction(signum, None, previous)
    ignored = ctypes.create_string_buffer(previous.raw, _SIGACTION_BYTES)
    ctypes.c_void_p.from_buffer(ignored).value = int(signal.SIG_IGN)
    _sigaction(signum, ignored, None)
    return previous


def _sigaction(signum: int, new: ctypes.Array[ctypes.c_char] | None, old: ctypes.Array[ctypes.c_char] | None) -> None:
    if _libc().sigaction(signum, new, old) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"sigaction({signum}): {os.strerror(error)}")


@functools.cache
def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sigaction.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    libc.sigaction.restype = ctypes.c_int
    return libc
