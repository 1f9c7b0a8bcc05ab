"""What a job prints in a pool worker, sent to its pool for the attempt's log (the worker's side).

A worker wraps its ``sys.stdout``/``sys.stderr`` as the controller's process does
(:func:`flyte.runtime.logs.install`): everything still reaches the terminal, and what a job
prints (its ``logging`` records, its threads and the processes it starts included) is handed
to the job's :class:`JobLog`, found through the same context variable. Handing over is a list
append under a lock; one daemon thread sends complete lines to the pool a few times a second
as ``("log", job_id, text, dropped)`` messages, and the job sends the rest before its outcome,
so the pool has every line before the attempt ends. The pool writes them to the attempt's log
(:class:`flyte.runtime.logs.AttemptLog`), which masks secret values and keeps its cap.

Bounded like the controller's capture: at most ``PENDING_LIMIT`` characters wait per job, and
chunks are sent until ``FLYTE_LOG_MAX_BYTES`` is reached (the last one whole: the attempt's log
masks, then cuts at the cap); the rest is dropped and counted, and the count reaches
the attempt's log, which ends with a note saying how much.
"""

from __future__ import annotations

import contextlib
import threading
import time

from flyte.runtime import logs
from flyte.runtime.pool.protocol import Channel


class JobLog(logs.PendingText):
    """One job's output on its way to the pool (what :mod:`flyte.runtime.logs` writes to);
    ``dropped`` counts the characters not kept and not yet reported to the driver."""

    __slots__ = ("channel", "job_id", "sent")

    def __init__(self, channel: Channel, job_id: int):
        super().__init__()
        self.channel = channel
        self.job_id = job_id
        self.sent = 0  # characters sent so far

    def _wake(self) -> None:
        _sender.wants(self)

    def send(self, final: bool = False) -> None:
        """Send what is pending (complete lines only, unless ``final``)."""
        with self._io:
            with self._lock:
                chunk = self._take(final)
                # Whole chunks while under the cap: the driver masks secret values, then makes
                # the exact cut (a cut here could send the start of a value it cannot mask).
                kept = chunk if self.sent < logs.max_bytes() else ""
                self.dropped += len(chunk) - len(kept)
                dropped, self.dropped = self.dropped, 0
                self.sent += len(kept)
            if kept or dropped:
                with contextlib.suppress(OSError):  # the pool is gone: nobody reads the log
                    self.channel.send(("log", self.job_id, kept, dropped))

    def close(self) -> None:
        """The job ended: take no more writes and send the rest (before the job's outcome)."""
        for child, pump in self.pumps or ():  # an exited child's last lines may still be in its pipe
            if child.poll() is not None:
                pump.join(logs.PUMP_WAIT)
        with self._lock:
            self.closed = True
        self.send(final=True)


class _Sender:
    """One daemon thread that sends the complete lines of running jobs a few times a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: set[JobLog] = set()
        self._thread: threading.Thread | None = None

    def wants(self, log: JobLog) -> None:
        with self._lock:
            self._logs.add(log)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="flyte-worker-logs", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(logs.FLUSH_EVERY)
            with self._lock:
                waiting, self._logs = self._logs, set()
            for log in waiting:
                if not log.closed:
                    log.send()
                    if log._pending:  # a line not yet ended: look again next round
                        self.wants(log)


_sender = _Sender()
