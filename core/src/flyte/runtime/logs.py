"""What a task prints, kept per attempt under its run (``runs/<run>/logs/<action>-<n>.log``).

``sys.stdout`` and ``sys.stderr`` are wrapped once (:func:`install`): every write still goes to
the terminal (with the secret values a task was handed masked, as in the log: a value split
across two writes is not recognised there), and is also handed to the log of the attempt
running in the writing context (a
context variable, which follows asyncio tasks and the threads the runtime starts; threads a task
starts itself are bound to its attempt when they start). ``logging`` handlers that write to
the terminal write through the same wrappers, so log records are kept as printed.

Handing a line over is a list append under a lock: the task never waits on the disk. A
background thread writes complete lines to the file, with secret values masked; an attempt's
log keeps at most ``FLYTE_LOG_MAX_BYTES`` bytes (default 10 MiB) and at most
``PENDING_LIMIT`` bytes wait in memory, anything beyond is dropped and counted, and the file
ends with a note saying how much. Processes a task starts write to the terminal's file
descriptors directly; those are captured when the task runs them through ``subprocess`` with
no ``stdout``/``stderr`` of its own (:func:`install` routes them through a pipe). While a task
with secrets runs, the descriptors themselves are masked pipes (:mod:`flyte.runtime.fd_mask`).
``FLYTE_LOG_CAPTURE=0`` turns capture off.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from flyte._context import current_body
from flyte._home import state_dir, state_root
from flyte.runtime import fd_mask, redact

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
PENDING_LIMIT = 4 * 1024 * 1024  # bytes waiting for the writer thread, per attempt
BACKLOG_LIMIT = 64 * 1024 * 1024  # bytes of ended attempts' logs waiting, all together
FLUSH_EVERY = 0.2  # seconds between the writer thread's rounds
PUMP_WAIT = 2.0  # seconds an ending attempt waits for an exited child's last output to arrive
PARTIAL_LINE_MAX = 64 * 1024  # characters of a child's unfinished line held back from its log


def current() -> Any:
    """The log of the attempt running in this context (its body's, :class:`flyte._context.BodyContext`),
    or None."""
    return current_body.get().log


def enabled() -> bool:
    """Whether runs keep logs: ``FLYTE_LOG_CAPTURE=0`` turns it off (output then only reaches
    the terminal), read when a run starts."""
    raw = os.environ.get("FLYTE_LOG_CAPTURE", "1").strip().lower()
    if raw not in ("0", "1", "false", "true", "off", "on", "no", "yes"):
        raise ValueError(f"FLYTE_LOG_CAPTURE: {raw!r} is not a switch (accepted: 1/0, true/false, on/off, yes/no)")
    return raw in ("1", "true", "on", "yes")


def max_bytes() -> int:
    """The per-attempt cap, from ``FLYTE_LOG_MAX_BYTES`` (bytes, at least 1024)."""
    raw = os.environ.get("FLYTE_LOG_MAX_BYTES")
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1024:
        raise ValueError(f"FLYTE_LOG_MAX_BYTES: {raw!r} is not a size in bytes of at least 1024 (e.g. 10485760)")
    return value


_folders: dict[tuple[str | None, str], str] = {}  # (FLYTE_HOME, run) -> its logs folder


def _folder(run: str, fresh: bool = False) -> str:
    key = (os.environ.get("FLYTE_HOME"), run)
    folder = None if fresh else _folders.get(key)
    if folder is None:
        if len(_folders) > 1000:  # one entry per run: a long-lived process starts many
            _folders.clear()
        folder = _folders[key] = state_dir("runs", run, "logs")
    return folder


def recorded_log(run: str, action: str, attempt: int) -> Path:
    """Where an attempt's log is, for readers (creates nothing; the file may not exist)."""
    return state_root() / "runs" / run / "logs" / f"{action}-{attempt}.log"


def recorded_lines(run: str, action: str, attempt: int) -> Iterator[str]:
    """The lines an attempt's log holds (without their line ends), read as they are iterated;
    none if the attempt printed nothing (no file)."""
    try:
        f = open(recorded_log(run, action, attempt), encoding="utf-8", errors="replace")  # noqa: SIM115
    except FileNotFoundError:
        return
    with f:
        for line in f:
            yield line.rstrip("\r\n")


def log_path(run: str, action: str, attempt: int) -> Path:
    """Where an attempt's log is (or will be) written (its folder is created on first use)."""
    return Path(_folder(run), f"{action}-{attempt}.log")


class PendingText:
    """Text a task printed, held for a background thread to take (written to a file, or sent
    from a pool worker to its driver): ``write`` never blocks on I/O, and text past
    :data:`PENDING_LIMIT` waiting at once is dropped and counted."""

    __slots__ = ("_io", "_lock", "_pending", "_pending_bytes", "closed", "dropped", "pumps")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._io = threading.Lock()  # one taker at a time keeps the text in order
        self._pending: list[str] = []
        self._pending_bytes = 0
        self.dropped = 0  # characters not kept (over a cap)
        self.closed = False
        # (child process, thread copying its output): a child that outlives the attempt (an
        # engine's JVM or server) keeps its copy going to the terminal, not to this log.
        self.pumps: list[tuple[subprocess.Popen[Any], threading.Thread]] | None = None

    def add_pump(self, child: subprocess.Popen[Any], pump: threading.Thread) -> None:
        """Note a process started inside the attempt and the thread copying its output (an
        exited child's last lines are waited for when the attempt ends)."""
        if self.pumps is None:
            self.pumps = []
        self.pumps.append((child, pump))

    def write(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self.closed or self._pending_bytes + len(text) > PENDING_LIMIT:
                self.dropped += len(text)
                return
            first = not self._pending
            self._pending.append(text)
            self._pending_bytes += len(text)
        if first:
            self._wake()

    def _wake(self) -> None:
        """Text is pending where there was none: tell the thread that takes it."""
        raise NotImplementedError

    def _take(self, final: bool) -> str:
        """What is pending, up to its last complete line (all of it when ``final``); the
        caller holds ``_lock``."""
        text = "".join(self._pending)
        cut = len(text) if final else text.rfind("\n") + 1
        self._pending = [text[cut:]] if text[cut:] else []
        self._pending_bytes = len(text) - cut
        return text[:cut]


# Makes an attempt's buffer on its first write (once, whichever thread writes first).
_opening = threading.Lock()


class AttemptLog:
    """The log of one attempt. Most attempts print nothing: its buffer is made on the first
    write (or a process started inside it), its file when a line is written."""

    __slots__ = ("_buffer", "action", "attempt", "closed", "run")

    def __init__(self, run: str, action: str, attempt: int):
        self.run, self.action, self.attempt = run, action, attempt
        self._buffer: _LogFile | None = None
        self.closed = False

    @property
    def path(self) -> str:
        """Where the log is (or will be) written."""
        buffer = self._buffer
        if buffer is not None:
            return buffer.path
        return os.path.join(_folder(self.run), f"{self.action}-{self.attempt}.log")

    def _opened(self) -> _LogFile:
        buffer = self._buffer
        if buffer is None:
            with _opening:
                buffer = self._buffer
                if buffer is None:
                    buffer = self._buffer = _LogFile(self.run, self.action, self.attempt)
                    buffer.closed = self.closed  # a write after the attempt ended is dropped, as always
        return buffer

    def write(self, text: str) -> None:
        if text and not (self.closed and self._buffer is None):  # ended unused: nothing to keep
            self._opened().write(text)

    def lost(self, count: int) -> None:
        """Count ``count`` characters dropped elsewhere (a pool worker's cap): the note says so."""
        self._opened().lost(count)

    def add_pump(self, child: subprocess.Popen[Any], pump: threading.Thread) -> None:
        """Note a process started inside the attempt and the thread copying its output (its
        lines are written here: the buffer is made now)."""
        self._opened().add_pump(child, pump)

    def close(self) -> str | None:
        """Stop taking writes, write the rest; the file's path if anything was printed."""
        with _opening:
            self.closed = True
            buffer = self._buffer
        return None if buffer is None else buffer.close()


class _LogFile(PendingText):
    """An attempt's printed text on its way to its file (written lazily: no file until a line
    is written)."""

    __slots__ = ("_path", "action", "attempt", "run", "written")

    def __init__(self, run: str, action: str, attempt: int):
        super().__init__()
        self.run, self.action, self.attempt = run, action, attempt
        self.written = 0  # characters handed to the file so far
        self._path: str | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = os.path.join(_folder(self.run), f"{self.action}-{self.attempt}.log")
        return self._path

    def _wake(self) -> None:
        _writer.wants(self)

    def lost(self, count: int) -> None:
        with self._lock:
            self.dropped += count

    @property
    def used(self) -> bool:
        """Whether the attempt printed anything."""
        return bool(self.written or self._pending or self.dropped)

    def flush(self, final: bool = False) -> None:
        """Write what is pending (complete lines only, unless ``final``)."""
        with self._io:  # one writer at a time keeps the file in order; write() never waits on it
            self._flush(final)

    def _flush(self, final: bool) -> None:
        with self._lock:
            chunk = self._take(final)
        limit = max_bytes()
        if chunk:
            chunk = redact.redact(chunk)  # before the cap's cut, which could keep the start of a value
            room = max(0, limit - self.written)
            kept = chunk[:room]
            self.dropped += len(chunk) - len(kept)
            if kept:
                self._append(kept)
                self.written += len(kept)
        if final and self.dropped:
            self._append(
                f"\n[flyte: log truncated: {self.dropped:,} characters were dropped "
                f"(the cap is FLYTE_LOG_MAX_BYTES={limit:,} per attempt)]\n"
            )

    def _append(self, text: str) -> None:
        # Created private (0600) in the same call that opens it; never through a symlink.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileNotFoundError:  # the run's folder was removed meanwhile: make it again
            _folder(self.run, fresh=True)
            fd = os.open(self.path, flags, 0o600)
        try:
            data = text.encode("utf-8", errors="replace")
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)

    def close(self) -> str | None:
        # An exited child's last lines may still be in its pipe: one wait for them all, not one
        # per pipe (a child that left a process holding its pipes, `os.system("server &")`,
        # would cost a whole wait each).
        deadline = time.monotonic() + PUMP_WAIT
        for child, pump in self.pumps or ():
            if child.poll() is not None:
                pump.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self.closed = True
        if not self.used:
            return None
        _writer.finish(self)
        return self.path


class _Writer:
    """One daemon thread that writes every log: complete lines of the open ones a few times a
    second, and the rest of each closed one (an ending attempt hands its log over instead of
    writing it; :func:`drain` waits for the hand-overs, e.g. when a run ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._logs: set[_LogFile] = set()
        self._closing: list[_LogFile] = []
        self._backlog = 0  # characters waiting in closed logs
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:  # under self._lock; a forked child has no such thread
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="flyte-logs", daemon=True)
            self._thread.start()

    def wants(self, log: _LogFile) -> None:
        with self._lock:
            self._logs.add(log)
            self._ensure_thread()

    def finish(self, log: _LogFile) -> None:
        """Write the rest of a closed log (here, at once, when too much is already waiting)."""
        with self._lock:
            if self._backlog + log._pending_bytes <= BACKLOG_LIMIT:
                self._closing.append(log)
                self._backlog += log._pending_bytes
                self._ensure_thread()
                return
        log.flush(final=True)

    def drain(self, timeout: float = 60) -> None:
        """Wait until every closed log is written."""
        with self._lock:
            if not self._closing:
                return
            self._wake.set()
            self._done.wait_for(lambda: not self._closing, timeout)

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_EVERY)
            self._wake.clear()
            with self._lock:
                logs, self._logs = self._logs, set()
                closing = list(self._closing)
            for log in logs:
                if not log.closed:
                    self._write(log, final=False)
                    if log._pending:  # a line not yet ended: look again next round
                        self.wants(log)
            for log in closing:
                self._write(log, final=True)
            with self._lock:
                del self._closing[: len(closing)]
                self._backlog = sum(log._pending_bytes for log in self._closing)
                self._done.notify_all()

    @staticmethod
    def _write(log: _LogFile, final: bool) -> None:
        try:
            log.flush(final=final)
        except OSError as exc:  # a full disk must not stop the task: say so, keep going
            print(f"flyte: cannot write the log {log.path}: {exc}", file=sys.__stderr__)


def drain(timeout: float = 60) -> None:
    """Wait until the logs of every ended attempt are on disk."""
    _writer.drain(timeout)


_writer = _Writer()


class Route:
    """Where the threads of an engine shared by tasks write: the log of the attempt using the
    engine now (set by :class:`flyte.runtime.engines.SharedEngine`), or none."""

    __slots__ = ("log",)

    def __init__(self) -> None:
        self.log: AttemptLog | None = None


def bind_thread(binding: AttemptLog | Route | None) -> None:
    """Bind the calling thread (and the threads and processes it starts) to a log or a route."""
    threading.current_thread()._flyte_log = binding  # type: ignore[attr-defined]


def _binding_here() -> AttemptLog | Route | None:
    return current_body.get().log or getattr(threading.current_thread(), "_flyte_log", None)


def bound_here() -> bool:
    """Whether the calling code belongs to an attempt (threads it starts are bound to its log)."""
    return _binding_here() is not None


def _resolve(binding: AttemptLog | Route | None) -> AttemptLog | None:
    return binding.log if isinstance(binding, Route) else binding


def _log_here() -> AttemptLog | None:
    """The log of the attempt the calling code belongs to: its context's, or its thread's."""
    return _resolve(_binding_here())


class TeeStream:
    """``sys.stdout``/``sys.stderr`` as installed: the terminal, plus the current attempt's log."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._fd: int | None = -1  # the stream's descriptor (-1: not asked yet; None: it has none)

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        log = _log_here()
        if log is not None:
            log.write(text)  # masked on its way to the file, whole lines at a time
        if redact.known():  # a task printing its secret shows *** on the terminal too
            self.to_terminal(redact.redact(text))
            return len(text)  # what the caller handed over, as a stream reports it
        return self._stream.write(text)

    def to_terminal(self, text: str) -> None:
        """Write ``text`` (masked already, logged already) to the terminal: past the masked
        pipe of :mod:`flyte.runtime.fd_mask` when the stream's descriptor has one now (which
        would mask and log it a second time)."""
        if fd_mask.active():
            if self._fd == -1:
                self._fd = _descriptor(self._stream)
            if self._fd is not None:
                stream = self._stream
                # (Python's own text stays ordered with what the stream still holds.)
                with contextlib.suppress(Exception):
                    stream.flush()
                encoding, errors = getattr(stream, "encoding", None), getattr(stream, "errors", None)
                if fd_mask.terminal_write(self._fd, text, encoding or "utf-8", errors or "strict"):
                    return
        self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _descriptor(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except Exception:  # a stream of no descriptor (io.StringIO, a test's capture)
        return None


_install_lock = threading.Lock()
_patched = False


def install() -> None:
    """Wrap ``sys.stdout``/``sys.stderr`` (again, if something replaced them since), point
    ``logging``'s terminal handlers at the wrappers, and bind threads and child processes
    started inside an attempt to its log. Idempotent; called at the start of every run."""
    global _patched
    enabled()  # a bad FLYTE_LOG_CAPTURE is reported before the run starts
    max_bytes()
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, TeeStream):
                tee = TeeStream(stream)
                setattr(sys, name, tee)
                for handler in _stream_handlers(logging):
                    if handler.stream is stream:
                        handler.setStream(tee)  # type: ignore[arg-type]
        if not _patched:
            _patch_thread_start()
            _patch_popen()
            _patched = True


def _stream_handlers(logging: Any) -> list[Any]:
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values() if hasattr(v, "handlers"))]
    return [h for lg in loggers for h in lg.handlers if isinstance(h, logging.StreamHandler)]


def _patch_thread_start() -> None:
    # A thread a task starts does not inherit context variables: it is bound to the attempt
    # running where it was started, so what it prints lands in that attempt's log.
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        binding = _binding_here()  # a thread started by a bound thread is bound alike (an engine's)
        if binding is not None:
            self._flyte_log = binding  # type: ignore[attr-defined]
        original(self)

    threading.Thread.start = start  # type: ignore[method-assign]


def _patch_popen() -> None:
    # A child process writes to the inherited file descriptors, not to sys.stdout: inside an
    # attempt, a stream the caller left as the terminal's becomes a pipe whose lines a thread
    # copies to both the terminal and the log. `proc.stdout` stays None, as the caller asked.
    original = subprocess.Popen.__init__

    def init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        binding = _binding_here()
        log = _resolve(binding)
        if log is None or len(args) > 1:  # outside an attempt, or streams given by position
            original(self, *args, **kwargs)
            return
        pumps = []
        for name, terminal in (("stdout", sys.stdout), ("stderr", sys.stderr)):
            if kwargs.get(name) is None:
                read_fd, write_fd = os.pipe()
                kwargs[name] = write_fd
                pumps.append((read_fd, write_fd, terminal))
        try:
            original(self, *args, **kwargs)
        except BaseException:
            for read_fd, write_fd, _ in pumps:
                os.close(read_fd)
                os.close(write_fd)
            raise
        for read_fd, write_fd, terminal in pumps:
            os.close(write_fd)  # the child holds its own copy
            pump = threading.Thread(target=_pump, args=(read_fd, terminal, binding), name="flyte-log-pipe", daemon=True)
            log.add_pump(self, pump)
            pump.start()

    subprocess.Popen.__init__ = init  # type: ignore[method-assign]


def _pump(fd: int, terminal: Any, binding: AttemptLog | Route) -> None:
    """Copy a child's output to the terminal and to its log (an engine's child, started through
    a route: to the log of the attempt using the engine at the time)."""
    stream = terminal.wrapped if isinstance(terminal, TeeStream) else terminal
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span reads
    # The log gets whole lines: an unbuffered child writes a line's text and its newline apart,
    # and the task's own prints must not land between them. The terminal gets text at once
    # (a prompt has no newline).
    partial = ""
    with open(fd, "rb", buffering=0) as pipe:
        for raw in iter(lambda: pipe.read(65536), b""):
            text = decoder.decode(raw)
            partial += text
            cut = len(partial) if len(partial) > PARTIAL_LINE_MAX else partial.rfind("\n") + 1
            if cut:
                log = _resolve(binding)
                if log is not None:
                    log.write(partial[:cut])
                partial = partial[cut:]
            with contextlib.suppress(Exception):  # a closed terminal must not stop the copy
                shown = redact.redact(text) if redact.known() else text
                if isinstance(terminal, TeeStream):
                    terminal.to_terminal(shown)  # (not into a masked pipe: logged here already)
                else:
                    stream.write(shown)
                stream.flush()
    partial += decoder.decode(b"", final=True)
    log = _resolve(binding)
    if partial and log is not None:
        log.write(partial)
