"""Retries: how many times a failed attempt is tried again, and how long to wait in between."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import attrs

from flyte._validation import MAX_DURATION, invalid, positive_int, to_seconds, wrong_type

MAX_FACTOR = 100
MAX_RETRIES = 1000


def _factor(value: Any) -> float:
    accepted = f"a number from 1 to {MAX_FACTOR}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        wrong_type("Backoff.factor", value, accepted)
    if not math.isfinite(value):
        invalid("Backoff.factor", value, accepted, "is not a finite number")
    if value < 1:
        invalid("Backoff.factor", value, accepted, "would shrink the delay")
    if value > MAX_FACTOR:
        invalid("Backoff.factor", value, accepted, "is too large")
    return float(value)


def _count(value: Any) -> int:
    count = positive_int("retries", value, allow_zero=True)
    if count > MAX_RETRIES:
        invalid("retries", value, f"an int from 0 to {MAX_RETRIES}", "is too many")
    return count


@attrs.frozen
class Backoff:
    """Exponential backoff: the n-th retry (n = 0 for the first) waits ``min(base * factor**n, cap)``.

    ``base`` and ``cap`` are seconds (int or float) or ``timedelta``. As on the reference SDK,
    ``base`` is required, ``factor`` defaults to 1 (the same wait each time), and a ``factor``
    above 1 needs a ``cap``.
    """

    base: timedelta = attrs.field(converter=to_seconds("Backoff.base", allow_zero=True))
    factor: float = attrs.field(default=1.0, converter=_factor)
    cap: timedelta | None = attrs.field(default=None, converter=to_seconds("Backoff.cap", allow_zero=True))

    def __attrs_post_init__(self) -> None:
        if self.base is None:
            wrong_type("Backoff.base", None, "seconds (int or float) or a datetime.timedelta")
        if self.cap is not None and self.cap < self.base:
            invalid("Backoff.cap", self.cap, f"a duration >= base ({self.base})", "is below base")
        if self.factor > 1 and self.cap is None:
            invalid(
                "Backoff.cap",
                None,
                f"a longest wait such as timedelta(minutes=5), required when factor ({self.factor:g}) is above 1",
                "is not set",
            )

    def delay(self, retry: int) -> timedelta:
        """The wait before retry number ``retry`` (0-based)."""
        longest = (self.cap or MAX_DURATION).total_seconds()
        try:
            seconds = min(self.base.total_seconds() * (self.factor**retry), longest)
        except OverflowError:  # factor**retry beyond a float: the wait is at its longest
            seconds = longest
        return timedelta(seconds=seconds)


def stored_backoff(base: Any, factor: Any = 1.0, cap: Any = None) -> Backoff:
    """A Backoff read back from data this library stored, possibly by an earlier version whose
    default was ``factor=2`` with no ``cap`` (a ``cap`` is required with a factor above 1 now):
    such a one gets ``cap`` = the longest duration, the bound that version's ``delay`` applied,
    so it waits exactly as it did. New input goes through ``Backoff(...)`` and its rules."""
    if cap is None and isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor > 1:
        cap = MAX_DURATION
    return Backoff(base=base, factor=factor, cap=cap)


def _backoff(value: Any) -> Backoff | None:
    if value is None or isinstance(value, Backoff):
        return value
    if isinstance(value, (int, float, timedelta)) and not isinstance(value, bool):
        return Backoff(base=value)
    wrong_type("RetryStrategy.backoff", value, "a Backoff, seconds or a timedelta")


@attrs.frozen
class RetryStrategy:
    """Retry a failed task up to ``count`` more times (``count + 1`` attempts in all).

    ``backoff`` spaces the retries out; without it they follow at once.
    """

    count: int = attrs.field(converter=_count)
    backoff: Backoff | None = attrs.field(default=None, converter=_backoff)

    def delay(self, retry: int) -> timedelta:
        """The wait before retry number ``retry`` (0-based)."""
        return self.backoff.delay(retry) if self.backoff else timedelta(0)


def to_retry_strategy(value: Any) -> RetryStrategy:
    """``retries=`` accepts an int (the retry count) or a RetryStrategy."""
    if isinstance(value, RetryStrategy):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        wrong_type("retries", value, f"an int from 0 to {MAX_RETRIES} or a flyte.RetryStrategy")
    return RetryStrategy(count=value)
