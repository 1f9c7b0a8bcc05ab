"""Messages between a pool and its worker processes: length-prefixed pickles over two pipes.

Each message is a tuple whose first item names it. Task payloads inside are already
cloudpickled bytes, so this layer only frames them. A worker's stdout and stderr stay the
parent's (a task's ``print`` shows up as usual; a copy goes to its attempt's log as ``log``
messages): the protocol has pipes of its own.

Parent to worker: ``("code", code_id, blob)`` (a task function and spec, sent once per worker),
``("run", job_id, code_id, payload, origin)`` (``origin``: the nested call of a task on
this worker that the job answers, or None), ``("cancel", job_id)``, ``("reply", call_id, outcome)``.
Worker to parent: ``("ready", pid)``, ``("done", job_id, outcome)``, ``("call", job_id,
call_id, blob)`` (a nested task call, answered by a ``reply``), ``("warn", job_id, blob)`` (a
warning a task raised, issued again in the parent), ``("log", job_id, text, dropped)`` (what
the job printed, for its attempt's log; see :mod:`.joblog`), ``("step", job_id, token,
fields)`` (a ``flyte.trace`` call of the job started, ``parent`` among its fields, or ended:
the controller records it as a step of the run).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import threading
from typing import Any

_HEADER = struct.Struct("!I")


class Channel:
    """One end of a worker's pipes: thread-safe :meth:`send`, blocking :meth:`recv`."""

    def __init__(self, read_fd: int, write_fd: int):
        self._read = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self._write_fd = write_fd
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        """Write one message; ``BrokenPipeError`` when the other end is gone."""
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _HEADER.pack(len(data)) + data
        with self._lock:
            if self._write_fd < 0:
                raise BrokenPipeError("the channel is closed")
            view = memoryview(frame)
            while view:
                written = os.write(self._write_fd, view)
                view = view[written:]

    def recv(self) -> tuple[Any, ...] | None:
        """The next message, or None when the other end closed its pipe (or died)."""
        header = self._read.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack(header)
        data = self._read.read(size)
        if len(data) < size:
            return None
        return pickle.loads(data)

    def close_sending(self) -> None:
        """Close our write end: the other side reads EOF (a worker then exits)."""
        with self._lock:
            if self._write_fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._write_fd)
                self._write_fd = -1

    def close_receiving(self) -> None:
        """Close our read end (by the thread that reads, once it saw EOF)."""
        with contextlib.suppress(OSError):
            self._read.close()
