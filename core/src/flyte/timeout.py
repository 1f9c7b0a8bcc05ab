"""Timeouts: per-attempt runtime, time waiting in the queue, and a deadline for the whole action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs

from flyte._validation import to_seconds, wrong_type


def _is_zero(value: Any) -> bool:
    """Zero seconds, which the reference SDK reads as "no limit" (``False`` is not a duration)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, timedelta)) and not value


def _bound(param: str) -> Callable[[Any], timedelta | None]:
    """A limit of ``Timeout``: zero is none, anything else positive (to_seconds)."""
    positive = to_seconds(param)

    def _convert(value: Any) -> timedelta | None:
        return None if _is_zero(value) else positive(value)

    return _convert


@attrs.frozen
class Timeout:
    """Limits on how long a task may take.

    - ``max_runtime``: each attempt is stopped after this long (a failed attempt, retried if
      retries remain).
    - ``max_queued_time``: each attempt fails if it waits this long for a slot to run in.
    - ``deadline``: the whole action (every attempt and the waits between them) must finish
      this long after it was first enqueued; it wins over remaining retries.

    Each is seconds (int or float) or a ``timedelta``; ``None`` or zero is no limit (as the
    reference SDK documents it: ``timeout=0`` is its default).
    """

    max_runtime: timedelta | None = attrs.field(default=None, converter=_bound("Timeout.max_runtime"))
    max_queued_time: timedelta | None = attrs.field(default=None, converter=_bound("Timeout.max_queued_time"))
    deadline: timedelta | None = attrs.field(default=None, converter=_bound("Timeout.deadline"))


def to_timeout(value: Any) -> Timeout | None:
    """``timeout=`` accepts seconds (int or float), a timedelta, or a Timeout; zero is no
    timeout (None)."""
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
        wrong_type("timeout", value, "seconds (int), a datetime.timedelta or a flyte.Timeout")
    if _is_zero(value):
        return None
    return Timeout(max_runtime=to_seconds("timeout")(value))


# The forms ``timeout=`` accepts: seconds, a timedelta, or a Timeout.
TimeoutType = int | float | timedelta | Timeout
