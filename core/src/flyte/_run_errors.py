"""The exception a recorded run ended with, rebuilt from the run store for
``Run.raise_for_status()``: the one a parent task awaiting the same task would have seen.

The store keeps each attempt's error as its type's name and its message (secret values
masked), never the object. From those: a timeout is raised as its own
:class:`~flyte.errors.TaskTimeoutError` subclass (``except MaxQueuedTimeExceededError``, as with
the reference SDK); a built-in exception type (``ValueError``, ``KeyError``, ...) as that type
*and* :class:`~flyte.errors.RuntimeUserError` with ``code`` set to its name, exactly as
``flyte.run`` raises it; any other type (a class of the user's, which is not imported here) as
``RuntimeUserError(code=<its name>, message)``, which is what the reference SDK raises for it.
An aborted run raises :class:`~flyte.errors.ActionAbortedError` with the recorded reason.
"""

from __future__ import annotations

import builtins
import re

from flyte import errors

# How an abort's reason is recorded (flyte.runtime.api): "ActionAbortedError: run NAME was aborted: REASON".
_ABORT_REASON = re.compile(r"^ActionAbortedError: run \S+ was aborted: (?P<reason>.*)$", re.S)


def not_done(name: str, phase: str) -> errors.RuntimeUserError:
    """What ``raise_for_status`` raises for a run that has not ended (the reference SDK's error)."""
    return errors.RuntimeUserError("RunNotDoneError", f"Run {name} is {phase}, call wait() before raise_for_status().")


def aborted(name: str, recorded: str | None) -> errors.ActionAbortedError:
    """The error of a run recorded ABORTED, with why (``recorded``: the run's error text)."""
    match = _ABORT_REASON.match(recorded or "")
    reason = match["reason"] if match else (recorded or "")
    return errors.ActionAbortedError(f"Run {name} was aborted" + (f": {reason}" if reason else ""))


def failed(name: str, error_type: str | None, message: str | None) -> BaseException:
    """The error of a run recorded FAILED whose root action's last attempt failed with
    ``error_type`` (a class name) and ``message``."""
    if not error_type:
        return errors.RuntimeSystemError("UnknownRunFailure", f"Run {name} ended FAILED without error details.")
    message = message or ""
    flyte_type = getattr(errors, error_type, None)
    if isinstance(flyte_type, type) and issubclass(flyte_type, errors.TaskTimeoutError):
        return flyte_type(message)
    builtin = getattr(builtins, error_type, None)
    if (
        isinstance(builtin, type)
        and issubclass(builtin, Exception)
        and not issubclass(builtin, (UnicodeError, OSError))  # these rebuild wrongly from a message alone
    ):
        try:
            return errors.as_user_error(builtin(message))
        except TypeError:  # a built-in that needs more than a message
            pass
    return errors.RuntimeUserError(error_type, message)


def split_recorded(text: str | None) -> tuple[str | None, str | None]:
    """A run's recorded error (``"ValueError: bad x"``) as its type's name and message."""
    if not text:
        return None, None
    kind, sep, message = text.partition(": ")
    if not sep or not kind.isidentifier():
        return None, text
    return kind, message
