"""Trigger schedules as Kubernetes CronJob schedules.

A ``Cron`` is used as written, with its ``timeZone``: ``UTC`` when it names none, as the
guide promises (a CronJob without ``timeZone`` follows the controller's local zone). A ``FixedRate`` becomes a cron
schedule only when one expresses it exactly: an interval that divides an hour (every 1, 2, 3,
4, 5, 6, 10, 12, 15, 20 or 30 minutes), a whole number of hours that divides a day, or exactly
one day, phased to ``start_time`` (to the Unix epoch, UTC, when it has none). Anything else is
an error that says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flyte.errors import RenderError
from flyte.triggers import Cron, FixedRate

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cron_schedule(automation: Cron | FixedRate) -> tuple[str, str]:
    """(schedule, time zone)."""
    if isinstance(automation, Cron):
        return automation.expression, automation.timezone
    return fixed_rate_to_cron(automation), "UTC"


def fixed_rate_to_cron(rate: FixedRate) -> str:
    minutes = rate.interval_minutes
    start = rate.start_time or EPOCH
    if start.tzinfo is not None:
        start = start.astimezone(UTC)
    if start.second or start.microsecond:
        raise RenderError(
            f"FixedRate({minutes}, start_time={rate.start_time}): a cron schedule fires on whole "
            "minutes, so start_time must have no seconds"
        )
    if minutes < 60 and 60 % minutes == 0:
        offset = start.minute % minutes
        return f"{offset}-59/{minutes} * * * *" if minutes > 1 else "* * * * *"
    if minutes % 60 == 0 and 1440 % minutes == 0:
        hours = minutes // 60
        offset = start.hour % hours
        hour_field = f"{offset}-23/{hours}" if hours > 1 else "*"
        return f"{start.minute} {hour_field} * * *"
    raise RenderError(
        f"FixedRate(interval_minutes={minutes}) cannot be expressed exactly as a cron schedule "
        "(a Kubernetes CronJob): use an interval that divides an hour (e.g. 15, 30), a whole "
        "number of hours that divides a day (e.g. 120, 360), or exactly 1440, or use flyte.Cron"
    )
