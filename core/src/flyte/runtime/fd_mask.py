"""File descriptors 1 and 2 read through a pipe while a task holding secrets runs.

``print`` goes through ``sys.stdout`` (:class:`flyte.runtime.logs.TeeStream`, which masks and
logs), but ``os.write(1, ...)``, ``sys.__stdout__``, C code's ``printf`` and processes started
without ``subprocess`` (``os.posix_spawn``, ``os.fork``) write to the descriptors themselves.
While an attempt with secrets runs in this process (:func:`held`; none: nothing changes, no
cost), descriptors 1 and 2 are pipes: a thread per descriptor reads each, masks the secret
values and writes the rest to where the descriptor pointed before, and to the attempt's log.
Text that ends with what may be the start of a value waits for the next write (however long:
shown now, the rest of a value written in two pieces could not be recognised); values do not
start with a line's end, so only output left without one (a prompt) can wait, until the next
write or the task's end. The wrappers' own writes, and the copies of ``subprocess``
children's output, go straight to that place (:func:`terminal_write`): they are masked and
logged already. So the two are not ordered with each other: a ``print`` just after an
``os.write`` can reach the terminal (or the log's pending line) before the thread copied the
pipe's text.

When the last holder ends, buffered output is flushed into the pipes (Python's
``sys.__stdout__``/``sys.__stderr__`` and C's stdio), a marker written after it, and the
descriptors are put back once the threads have copied everything up to the marker; so nothing
written before the end is lost or reaches the terminal unmasked. The process's exit does the
same for a run that never ended (Ctrl-C on a blocked run). The pipes and threads are made
once and kept for the process's life (a thread started per task would cost more than all the
rest): a process started inside that keeps its copy of a pipe is copied on (masked, to the
terminal only) after the task ended.

What it cannot tell is who wrote a byte: the log it goes to is that of the one attempt holding
the pipes (a task without secrets running beside it writes there too), and none when several
do (concurrent or nested tasks with secrets: their direct output then reaches the terminal
masked, but no log). A reusable environment's worker holds them for its jobs with secrets
the same way.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import ctypes
import faulthandler
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from flyte.runtime import redact

FDS = (1, 2)
DRAIN_WAIT = 10.0  # seconds the end of a task waits for its output to be copied (a blocked terminal)
PARTIAL_LINE_MAX = 64 * 1024  # characters of an unfinished line held back from the log

_lock = threading.RLock()
_holders: list[Any] = []  # the logs (or None) of the attempts holding the pipes
_redirects: dict[int, _Redirect] = {}


def supported() -> bool:
    return os.name == "posix"


@contextlib.contextmanager
def held(log: Any) -> Iterator[None]:
    """Descriptors 1 and 2 are masked pipes until the block ends (and every other holder's)."""
    if not supported():
        yield
        return
    with _lock:
        if not _holders:
            _start()
        _holders.append(log)
        _retarget()
    try:
        yield
    finally:
        with _lock:
            _holders.remove(log)
            if _holders:
                _retarget()
            else:
                _stop()


def active() -> bool:
    return bool(_redirects)


def terminal_write(fd: int, text: str, encoding: str, errors: str) -> bool:
    """Write ``text`` (masked already) where descriptor ``fd`` pointed before its pipe, if it
    has one now; False if not (the caller writes as usual)."""
    if not _redirects:  # (read without the lock: most runs have no secret)
        return False
    with _lock:
        redirect = _redirects.get(fd)
        if redirect is None:
            return False
        _write_all(redirect.saved, text.encode(encoding or "utf-8", errors or "strict"))
        return True


def _retarget() -> None:
    """Point the pipes' complete lines at the only holder's log (several: who wrote a line is
    unknown, so none). Called as holders come and go, under the lock; the last one's stays
    until its marker is read."""
    logs = {id(log): log for log in _holders}
    log = next(iter(logs.values())) if len(logs) == 1 else None
    for redirect in _redirects.values():
        redirect.log = log


def _flush_buffers() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):  # a closed stream has nothing waiting
            if stream is not None:
                stream.flush()
    with contextlib.suppress(Exception):  # C stdio's buffers (printf to a pipe is fully buffered)
        _libc().fflush(None)


def _start() -> None:
    _flush_buffers()  # what was written before belongs where it was going
    started = []
    try:
        for fd in FDS:
            started.append(_Redirect(fd))
    except OSError:  # a descriptor that is closed (a daemon's): leave them all as they are
        for redirect in started:
            redirect.stop()
        return
    for redirect in started:
        _redirects[redirect.fd] = redirect
    _point_faulthandler()


def _point_faulthandler(restore: bool = False) -> None:
    # A crash's dump (file names and lines, no values) is written as the process dies, before
    # the pipe's thread could copy it: it goes to the terminal itself.
    if not faulthandler.is_enabled():
        return
    with contextlib.suppress(Exception):
        target = sys.__stderr__ if restore or 2 not in _redirects else _redirects[2].saved
        faulthandler.enable(file=target, all_threads=True)


def _stop() -> None:
    _flush_buffers()  # into the pipes: masked, not left to reach the terminal afterwards
    redirects = list(_redirects.values())
    _point_faulthandler(restore=True)
    _redirects.clear()
    for redirect in redirects:
        redirect.stop()


class _Copier:
    """A pipe and the thread that copies it out masked: made at the first redirect of its
    descriptor and kept (starting a thread for each task would cost it more than the rest)."""

    def __init__(self) -> None:
        self.read, self.write = os.pipe()
        self.out = -1  # where the text goes (its own descriptor): where fd pointed at the last start
        self.log: Any = None  # where complete lines go (none once its holders ended)
        # (Not the secrets module: a user's secrets.py beside the script would be imported.)
        self.marker = b"\0flyte-fd-mask-" + os.urandom(8).hex().encode() + b"\0"
        self.reached = threading.Event()
        self._out_lock = threading.Lock()
        self.thread = threading.Thread(target=self._copy, name="flyte-fd-mask", daemon=True)
        self.thread.start()

    def point(self, out: int) -> None:
        """Copy to ``out`` from now on (the copier owns it; the one before is closed)."""
        with self._out_lock:
            previous, self.out = self.out, out
        if previous >= 0:
            os.close(previous)

    def drain(self) -> None:
        """Wait until everything written to the pipe so far has been copied out."""
        self.reached.clear()
        with contextlib.suppress(OSError):
            _write_all(self.write, self.marker)  # after everything written before it
            self.reached.wait(DRAIN_WAIT)

    def _emit(self, text: str) -> None:
        if text:
            with self._out_lock, contextlib.suppress(OSError):  # a closed terminal must not stop the copy
                _write_all(self.out, text.encode("utf-8", "surrogateescape"))

    def _copy(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")  # bytes kept as they were
        marker = self.marker
        raw = b""  # read, not yet decoded: may hold the start of the marker
        held_back = ""  # may be the start of a secret
        line = ""  # the log's unfinished line
        while True:
            try:
                chunk = os.read(self.read, 65536)
            except OSError:  # (closed: a forked child's copy of a copier)
                return
            raw += chunk
            at = raw.find(marker)
            if at >= 0:  # its holders ended: everything written before the marker goes now
                text = held_back + decoder.decode(raw[:at], final=True)
                self._emit(redact.redact(text))
                self._log_lines(line + text, final=True)
                held_back, line, raw = "", "", raw[at + len(marker) :]
                self.log = None  # a process started inside writes on: to the terminal only
                self.reached.set()
            keep = _marker_start(raw, marker)
            text = held_back + decoder.decode(raw[: len(raw) - keep])
            raw = raw[len(raw) - keep :]
            cut = len(text) - redact.unfinished(text)
            self._emit(redact.redact(text[:cut]))
            line = self._log_lines(line + text[:cut])
            held_back = text[cut:]

    def _log_lines(self, text: str, final: bool = False) -> str:
        """Hand the complete lines of ``text`` to the log (masked there); the rest back."""
        cut = len(text) if final or len(text) > PARTIAL_LINE_MAX else text.rfind("\n") + 1
        log = self.log
        if cut and log is not None:
            log.write(text[:cut])
        return text[cut:]


_copiers: dict[int, _Copier] = {}


class _Redirect:
    """One descriptor pointed at its copier's pipe, until :meth:`stop`."""

    def __init__(self, fd: int):
        self.fd = fd
        self.saved = os.dup(fd)  # where it pointed (not inherited by processes started later)
        try:
            out = os.dup(self.saved)
        except OSError:
            os.close(self.saved)
            raise
        copier = _copiers.get(fd)
        if copier is None:
            copier = _copiers[fd] = _Copier()
        copier.point(out)
        self.copier = copier
        try:
            os.dup2(copier.write, fd)
        except OSError:
            os.close(self.saved)
            raise

    @property
    def log(self) -> Any:
        return self.copier.log

    @log.setter
    def log(self, log: Any) -> None:
        self.copier.log = log

    def stop(self) -> None:
        self.copier.drain()
        os.dup2(self.saved, self.fd)
        os.close(self.saved)


def _marker_start(data: bytes, marker: bytes) -> int:
    """How many bytes at the end of ``data`` are the start of ``marker``."""
    for size in range(min(len(marker) - 1, len(data)), 0, -1):
        if data.endswith(marker[:size]):
            return size
    return 0


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


_libc_handle: Any = None


def _libc() -> Any:
    global _libc_handle
    if _libc_handle is None:
        _libc_handle = ctypes.CDLL(None)
        _libc_handle.fflush.argtypes = (ctypes.c_void_p,)
    return _libc_handle


def _at_exit() -> None:
    # A run that never ended (interrupted while blocked): its output is copied out, the
    # descriptors put back, before the interpreter goes.
    with _lock:
        if _redirects:
            _holders.clear()
            _stop()


def _forked() -> None:
    # A forked child writes into the pipes it inherited (the parent's threads copy them out);
    # it has no thread of its own, nothing to put back; a task with secrets it runs makes its own.
    global _lock
    _lock = threading.RLock()
    _holders.clear()
    _redirects.clear()
    for copier in _copiers.values():
        for fd in (copier.read, copier.write, copier.out):
            with contextlib.suppress(OSError):
                os.close(fd)
    _copiers.clear()


os.register_at_fork(after_in_child=_forked)
atexit.register(_at_exit)
