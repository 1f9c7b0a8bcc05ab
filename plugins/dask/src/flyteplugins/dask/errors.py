"""Errors of the Dask plugin."""

from __future__ import annotations


class DaskWorkerDiedError(RuntimeError):
    """A worker process of the task's Dask cluster ended while the attempt ran (killed, out of
    memory, a crash in native code): the attempt fails, and the task's ``retries`` decide what
    happens next. ``address`` and ``pid`` name the worker that died.
    """

    def __init__(self, message: str, address: str | None = None, pid: int | None = None):
        super().__init__(message)
        self.address = address
        self.pid = pid

    def __reduce__(self):
        return (type(self), (str(self), self.address, self.pid))
