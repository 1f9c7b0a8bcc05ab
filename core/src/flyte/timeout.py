"""Timeouts: per-attempt runtime, time waiting in the queue, and a deadline for the whole action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from flyte._validation import to_seconds, wrong_type


@attrs.frozen
class Timeout:
    """Limits on how long a task may take.

    - ``max_runtime``: each attempt is stopped after this long (a failed attempt, retried if
      retries remain).
    - ``max_queued_time``: each attempt fails if it waits this long for a slot to run in.
    - ``deadline``: the whole action (every attempt and the waits between them) must finish
      this long after it was first enqueued; it wins over remaining retries.

    Each is seconds (int or float) or a ``timedelta``.
    """

    max_runtime: timedelta | None = attrs.field(default=None, converter=to_seconds("Timeout.max_runtime"))
    max_queued_time: timedelta | None = attrs.field(default=None, converter=to_seconds("Timeout.max_queued_time"))
    deadline: timedelta | None = attrs.field(default=None, converter=to_seconds("Timeout.deadline"))


def to_timeout(value: Any) -> Timeout:
    """``timeout=`` accepts seconds (int or float), a timedelta, or a Timeout."""
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
        wrong_type("timeout", value, "seconds (int), a datetime.timedelta or a flyte.Timeout")
    return Timeout(max_runtime=to_seconds("timeout")(value))


# The forms ``timeout=`` accepts: seconds, a timedelta, or a Timeout.
TimeoutType = int | float | timedelta | Timeout
