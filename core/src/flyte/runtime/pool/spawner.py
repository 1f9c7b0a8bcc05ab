"""Where worker processes are started: a fork server, asked from one long-lived thread.

Workers are forked by this process's fork server (:mod:`.forkserver`): one clean interpreter,
started on first use, that has already imported a worker's code, so a pool of N workers costs
one start plus N forks. Where it cannot run (no ``SCM_RIGHTS``, or its imports started a
thread), each worker is its own ``python -m flyte.runtime.pool.worker``.

Linux's parent-death signal (``PR_SET_PDEATHSIG``, which the fork server and every worker set)
fires when the *thread* that forked the process exits, not only the process: a process started
from a run's short-lived thread would be killed when that thread ends. So the fork server (and
any worker started directly) is started by this one daemon thread, which lives as long as the
process; the workers' signal follows the fork server, which dies with us.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any, Protocol

from flyte.runtime.pool.protocol import Channel

_jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_started = False
_lock = threading.Lock()


def submit(job: Callable[[], None]) -> None:
    """Run ``job`` on the spawner thread (started on first use)."""
    global _started
    with _lock:
        if not _started:
            threading.Thread(target=_serve, name="flyte-pool-spawner", daemon=True).start()
            _started = True
    _jobs.put(job)


def _serve() -> None:
    while True:
        _jobs.get()()


def start_worker() -> tuple[WorkerHandle, Channel]:
    """Start one worker with its two pipes (on the spawner thread): forked by the fork server,
    or, where there is none, a ``python -m flyte.runtime.pool.worker`` of its own."""
    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    try:
        server = _fork_server()
        if server is not None:
            try:
                handle: WorkerHandle = server.fork(to_worker_r, from_worker_w, _environment())
            except ForkServerGone:  # it died just now: one new server, then the direct way
                server = _fork_server()
                handle = (
                    server.fork(to_worker_r, from_worker_w, _environment())
                    if server is not None
                    else _exec_worker(to_worker_r, from_worker_w)
                )
        else:
            handle = _exec_worker(to_worker_r, from_worker_w)
    except BaseException:
        for fd in (to_worker_w, from_worker_r):
            os.close(fd)
        raise
    finally:
        os.close(to_worker_r)
        os.close(from_worker_w)
    return handle, Channel(from_worker_r, to_worker_w)


class WorkerHandle(Protocol):
    """What a pool needs of a worker process (``subprocess.Popen`` is one)."""

    pid: int

    def wait(self) -> int: ...
    def poll(self) -> int | None: ...
    def kill(self) -> None: ...


def _exec_worker(read_fd: int, write_fd: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flyte.runtime.pool.worker", str(read_fd), str(write_fd), str(os.getpid())],
        pass_fds=(read_fd, write_fd),
        stdin=subprocess.DEVNULL,
        env=_environment(),
    )


class ForkedWorker:
    """A worker the fork server forked: its exit status arrives from the server, which reaps it."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._exited = threading.Event()

    def exited(self, returncode: int) -> None:
        self.returncode = returncode
        self._exited.set()

    def wait(self) -> int:
        self._exited.wait()
        return self.returncode  # type: ignore[return-value]

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:  # not reaped yet, so the pid is still this worker's
            os.kill(self.pid, signal.SIGKILL)


class ForkServerGone(Exception):
    """The fork server exited (or could not start)."""


class ForkServer:
    """The owner's side of the fork server: requests go out from the spawner thread, a reader
    thread settles them and passes each worker's exit status to its handle."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "flyte.runtime.pool.forkserver", str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=_environment(),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.alive = True
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._forking: dict[int, concurrent.futures.Future[ForkedWorker]] = {}
        self._workers: dict[int, ForkedWorker] = {}
        first = self._recv()
        if first is None or first[0] != "ready":
            self._gone()
            reason = first[1] if first is not None and first[0] == "unsafe" else "it exited while starting"
            raise ForkServerGone(f"the pool's fork server cannot run: {reason}")
        threading.Thread(target=self._read, name="flyte-pool-forkserver", daemon=True).start()

    def fork(self, read_fd: int, write_fd: int, environment: dict[str, str]) -> ForkedWorker:
        """A new worker holding ``read_fd`` and ``write_fd`` (our copies stay ours to close)."""
        request = next(self._ids)
        future: concurrent.futures.Future[ForkedWorker] = concurrent.futures.Future()
        with self._lock:
            if not self.alive:
                raise ForkServerGone("the pool's fork server exited")
            self._forking[request] = future
        # Its stdout and stderr are ours as they are now (a test's capture, say), as a worker
        # started now would inherit them, not the ones the server inherited when it started.
        streams = [fd for fd in (1, 2) if _is_open(fd)]
        message = pickle.dumps(("fork", request, environment, os.getcwd(), streams), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            socket.send_fds(self.sock, [message], [read_fd, write_fd, *streams])
        except OSError as exc:
            with self._lock:
                self._forking.pop(request, None)
                gone = not self.alive or isinstance(exc, (BrokenPipeError, ConnectionResetError))
                if gone:  # its reader cleans up once it reads the end; the next worker starts a new one
                    self.alive = False
            if gone:
                raise ForkServerGone(f"the pool's fork server exited: {exc}") from exc
            raise  # it refused this request (too large an environment, say): this worker fails only
        return future.result()

    def _recv(self) -> tuple[Any, ...] | None:
        try:
            data = self.sock.recv(65536)
        except OSError:
            return None
        return pickle.loads(data) if data else None

    def _read(self) -> None:
        while (message := self._recv()) is not None:
            if message[0] == "forked":
                worker = ForkedWorker(message[2])
                with self._lock:
                    self._workers[worker.pid] = worker
                    future = self._forking.pop(message[1])
                future.set_result(worker)
            elif message[0] == "failed":
                with self._lock:
                    future = self._forking.pop(message[1])
                future.set_exception(OSError(f"the pool's fork server cannot fork a worker: {message[2]}"))
            elif message[0] == "exited":
                with self._lock:
                    worker = self._workers.pop(message[1], None)
                if worker is not None:
                    worker.exited(message[2])
        self._gone()

    def _gone(self) -> None:
        with self._lock:
            self.alive = False
            forking, self._forking = list(self._forking.values()), {}
            workers, self._workers = list(self._workers.values()), {}
        self.sock.close()
        self.popen.wait()
        for future in forking:
            future.set_exception(ForkServerGone("the pool's fork server exited"))
        for worker in workers:
            # Its parent-death signal (SIGTERM) stops it; nobody reaps it for us any more.
            worker.exited(-signal.SIGTERM)

    def stop(self) -> None:
        """Close our end: the server exits, and its workers with it (their parent-death signal)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader, which waits for the exit


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


_server: ForkServer | None = None
_server_broken = False  # it cannot run in this process: start workers directly


def _fork_server() -> ForkServer | None:
    """This process's fork server, (re)started if it is not running (on the spawner thread:
    its parent-death signal follows that thread); None where it cannot run."""
    global _server, _server_broken
    if _server is not None and _server.alive:
        return _server
    if _server_broken or not hasattr(socket, "send_fds") or not hasattr(os, "fork"):
        return None
    try:
        _server = ForkServer()
    except ForkServerGone as exc:
        _server_broken = True
        warnings.warn(f"{exc}; each pool worker starts its own interpreter instead", RuntimeWarning, stacklevel=2)
        return None
    return _server


def fork_server() -> ForkServer | None:
    """This process's running fork server, if any (started by the first pool's first worker)."""
    server = _server
    return server if server is not None and server.alive else None


def stop_fork_server() -> ForkServer | None:
    """Stop this process's fork server, if one runs (with no live pools: their workers would
    die with it); the next worker starts a new one. Returns the stopped server."""
    server = _server
    if server is not None and server.alive:
        server.stop()
        return server
    return None


def _environment() -> dict[str, str]:
    """This process's own environment (no task's overlay), with our import path first."""
    base = getattr(os.environ, "base", os.environ)  # flyte.runtime.environ's overlay wraps it
    env = dict(base)
    # The worker must import this very flyte (an editable checkout, a test's sys.path).
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env
