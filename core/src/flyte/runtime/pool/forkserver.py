"""The fork server: one clean process that has imported a worker's code and forks the workers.

Started once per owning process as ``python -m flyte.runtime.pool.forkserver SOCKET_FD
OWNER_PID`` (:mod:`.spawner`), it imports what a worker needs before its first task (flyte,
the worker loop, its transport and log capture), checks that doing so left it with a single
thread (forking a process with other threads copies their locks mid-use), says ``ready``, and
then forks one worker per request: N workers cost one interpreter start plus N forks, not N
starts (the same idea as ``multiprocessing.forkserver``'s preload). The task's own module is
not preloaded: a user module may start threads or open connections when imported, and each
worker imports it on its first task, as before.

The owner talks to it over a ``SOCK_SEQPACKET`` socket (one message per send, file
descriptors passed with ``SCM_RIGHTS``):

- owner to server: ``("fork", request_id, environment, cwd, streams)`` with the worker's two
  pipe ends and the owner's current stdout/stderr (``streams``: which of fds 1 and 2 follow);
- server to owner: ``("ready", pid)``, ``("forked", request_id, pid)``, ``("failed",
  request_id, reason)`` (the fork failed), ``("exited", pid, returncode)`` (a worker it reaped:
  ``-N`` when a signal N killed it), ``("unsafe", reason)``.

Lifetime. It dies with its owner (``PR_SET_PDEATHSIG``) and leaves as soon as its socket reads
end-of-file; each worker's parent-death signal follows the server (its parent), and each
worker's pipes lead to the owner directly, so a worker still notices its owner's death on its
own. Ctrl-C in a terminal reaches the whole process group: the server ignores it, as workers do.
"""

from __future__ import annotations

import os
import pickle
import selectors
import signal
import socket
import sys
from typing import Any

# What a worker imports before or at its first task, imported here once for every fork.
PRELOAD = ("flyte.runtime.pool.worker", "flyte._typecheck", "flyte.io._transport", "flyte.runtime.logs")
MAX_MESSAGE = 1 << 20  # a request carries the owner's environment: far below this


def send(sock: socket.socket, message: tuple[Any, ...], fds: list[int] | None = None) -> None:
    """One message (and file descriptors) over the server's socket."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def native_threads() -> int:
    """Threads of this process, the ones Python does not know about included (Linux)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def main(argv: list[str]) -> None:
    sock_fd, owner = int(argv[0]), int(argv[1])
    from flyte.runtime.pool import worker

    worker.die_with_parent(owner)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=sock_fd)
    for name in PRELOAD:
        __import__(name)
    if native_threads() != 1:  # a fork would copy another thread's state mid-use
        send(sock, ("unsafe", f"importing {', '.join(PRELOAD)} started {native_threads() - 1} other thread(s)"))
        return
    request = _serve(sock)
    if request is not None:  # in a forked worker: run it, then leave as a process does
        worker.main(request)


def _serve(sock: socket.socket) -> list[str] | None:
    """Fork a worker per request until the owner goes; returns (only in a worker) its arguments."""
    server = os.getpid()
    start_dir = os.getcwd()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes the loop below
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    send(sock, ("ready", server))
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is sock:
                    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
                    if not data:
                        return None  # the owner is gone
                    _kind, request_id, environment, cwd, streams = pickle.loads(data)
                    try:
                        pid = os.fork()
                    except OSError as exc:  # out of memory or processes: this worker only
                        for fd in fds:
                            os.close(fd)
                        send(sock, ("failed", request_id, str(exc)))
                        continue
                    if pid == 0:
                        selector.close()
                        sock.close()
                        for fd in (wake_r, wake_w):
                            os.close(fd)
                        for target, fd in zip(streams, fds[2:], strict=True):
                            os.dup2(fd, target)
                            os.close(fd)
                        _become_worker(environment, cwd, start_dir)
                        return [str(fds[0]), str(fds[1]), str(server)]
                    for fd in fds:
                        os.close(fd)  # the worker has them
                    send(sock, ("forked", request_id, pid))
                else:
                    os.read(wake_r, 4096)  # what is left wakes the selector again
                    _reap(sock)
    except (BrokenPipeError, ConnectionResetError):
        return None  # the owner is gone
    finally:
        if os.getpid() == server:
            selector.close()


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send(sock, ("exited", pid, os.waitstatus_to_exitcode(status)))


def _become_worker(environment: dict[str, str], cwd: str, start_dir: str) -> None:
    """A fresh fork: the server's signal handling undone, the owner's current environment
    and working directory taken (a worker started directly would have had them)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(environment)
    try:
        os.chdir(cwd)
    except OSError:
        pass  # removed meanwhile: stay where the server is
    else:
        if sys.path and sys.path[0] == start_dir:  # `python -m` put the start directory first
            sys.path[0] = cwd
    # Entries the owner's PYTHONPATH gained since the server started go where Python puts them.
    added = [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    sys.path[1:1] = added


if __name__ == "__main__":
    main(sys.argv[1:])
