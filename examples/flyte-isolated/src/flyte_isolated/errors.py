"""The one error flyte-isolated raises itself (a task's own errors keep their type)."""

from __future__ import annotations


class IsolatedProcessError(RuntimeError):
    """The child process could not run the task, or its error could not be brought back.

    Raised when the interpreter cannot start, the child dies without reporting (a crash,
    ``os._exit``, a signal), or the task's exception cannot be unpickled in the parent; the
    message carries what is known: the exit status, the error's type, message and traceback.
    """
