"""Errors of the PyTorch plugin."""

from __future__ import annotations


class WorkerFailedError(RuntimeError):
    """A worker process failed without reporting a Python exception: it was killed by a signal,
    crashed in native code, or the elastic agent gave up (rendezvous timeout, restarts used up).

    ``exitcode`` is the worker's (negative: the signal number), ``rank`` its global rank, when
    known.
    """

    def __init__(self, message: str, rank: int | None = None, exitcode: int | None = None):
        super().__init__(message)
        self.rank = rank
        self.exitcode = exitcode

    def __reduce__(self):
        return (type(self), (str(self), self.rank, self.exitcode))
