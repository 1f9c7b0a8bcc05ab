"""A datetime reaches a task, and leaves it, timezone-aware in UTC, as a cluster passes it (a
timestamp) and as the reference SDK does locally: one without a timezone is taken as UTC, one
in another timezone is the same instant in UTC; in optionals, lists and dicts too. Values the
caller passed are not changed; dates and dataclass fields are the caller's as they are."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import flyte

env = flyte.TaskEnvironment(name="utc_times")
FIVE_EAST = timezone(timedelta(hours=5))


@env.task
async def seen(when: datetime) -> str:
    return repr(when)


@env.task
async def maybe(when: datetime | None = None) -> str:
    return repr(when)


@env.task
async def several(times: list[datetime], named: dict[str, datetime]) -> list[str]:
    return [t.isoformat() for t in times] + [f"{k}={v.isoformat()}" for k, v in named.items()]


@env.task
async def made_here() -> datetime:
    return datetime(2025, 6, 1, 12, 30)  # no timezone: its caller gets it in UTC


@env.task
async def elapsed() -> float:
    start = await made_here()
    return (datetime(2025, 6, 1, 13, 0, tzinfo=UTC) - start).total_seconds()  # aware - aware


@dataclasses.dataclass
class Window:
    start: datetime


@env.task
async def other_types(day: date, window: Window) -> str:
    return f"{day!r} {window.start!r}"


def test_a_naive_datetime_is_taken_as_utc_and_another_timezone_is_converted():
    flyte.init()
    assert flyte.run(seen, datetime(2024, 1, 2, 3, 4, 5)).outputs()[0] == repr(
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    eastern = datetime(2024, 1, 2, 3, tzinfo=FIVE_EAST)
    assert flyte.run(seen, eastern).outputs()[0] == repr(datetime(2024, 1, 1, 22, tzinfo=UTC))  # the same instant
    assert flyte.run(maybe, datetime(2024, 1, 2)).outputs()[0] == repr(datetime(2024, 1, 2, tzinfo=UTC))
    assert flyte.run(maybe).outputs()[0] == "None"


def test_lists_and_dicts_of_datetimes_too_and_the_callers_values_stay_as_passed():
    flyte.init()
    times, named = [datetime(2024, 3, 1), datetime(2024, 3, 1, tzinfo=FIVE_EAST)], {"a": datetime(2024, 3, 2)}
    assert flyte.run(several, times, named).outputs()[0] == [
        "2024-03-01T00:00:00+00:00",
        "2024-02-29T19:00:00+00:00",
        "a=2024-03-02T00:00:00+00:00",
    ]
    assert times[0].tzinfo is None and named["a"].tzinfo is None  # the caller's own objects


def test_a_returned_datetime_reaches_the_caller_in_utc():
    flyte.init()
    out = flyte.run(made_here).outputs()[0]
    assert out == datetime(2025, 6, 1, 12, 30, tzinfo=UTC) and out.tzinfo is UTC
    assert flyte.run(elapsed).outputs()[0] == 1800.0


def test_dates_and_dataclass_fields_are_left_as_they_are():
    flyte.init()
    out = flyte.run(other_types, date(2024, 1, 2), Window(datetime(2024, 1, 2, 3))).outputs()[0]
    assert out == f"{date(2024, 1, 2)!r} {datetime(2024, 1, 2, 3)!r}"


def test_a_cached_datetime_output_is_in_utc_on_a_hit_too():
    cached = flyte.TaskEnvironment(name="utc_cached", cache="auto")

    @cached.task
    async def stamp(day: int) -> datetime:
        return datetime(2025, 1, day)

    flyte.init()
    first = flyte.run(stamp, 3).outputs()[0]
    again = flyte.run(stamp, 3).outputs()[0]
    assert first == again == datetime(2025, 1, 3, tzinfo=UTC) and again.tzinfo is not None
