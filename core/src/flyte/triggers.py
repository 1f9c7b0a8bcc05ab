"""Triggers: named launch configurations of a task, fired on a cron schedule, at a fixed rate,
or (without an automation) only on demand."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from flyte._validation import (
    action_concurrency,
    invalid,
    is_bool,
    k8s_annotations,
    k8s_labels,
    label_value,
    no_control_characters,
    optional,
    positive_int,
    str_dict,
    wrong_type,
)
from flyte.errors import ConfigurationAttributeError, ConfigurationError, ConfigurationTypeError
from flyte.frozen import FrozenDict, value_key


class _TriggerTimeType:
    """Placeholder for the time a trigger fired (a UTC ``datetime``), used in trigger inputs."""

    _instance: _TriggerTimeType | None = None

    def __new__(cls) -> _TriggerTimeType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "flyte.TriggerTime"

    def __reduce__(self) -> str:
        return "TriggerTime"


TriggerTime = _TriggerTimeType()


def _cron_expression(value: Any) -> str:
    if not isinstance(value, str):
        wrong_type("Cron.expression", value, "a str with five cron fields")
    expression = " ".join(value.split())
    if len(expression.split(" ")) != 5:
        invalid(
            "Cron.expression",
            value,
            'five fields: minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"',
            f"has {len(expression.split())} fields",
        )
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        invalid(
            "Cron.expression",
            value,
            'five fields: minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"',
            f"is not a valid cron expression ({exc})",
        )
    return expression


def _timezone(value: Any) -> str:
    if value is None:
        return "UTC"  # the guide's default, spelled out as the reference SDK does
    if not isinstance(value, str):
        wrong_type("Cron.timezone", value, 'an IANA time zone name such as "America/New_York"')
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        invalid(
            "Cron.timezone",
            value,
            'an IANA time zone name such as "UTC" or "America/New_York"',
            "is not a known time zone",
        )
    return value


@attrs.frozen(init=False)
class Cron:
    """A five-field Unix cron schedule, in ``timezone`` (``"UTC"`` unless given).

    The expression may also be passed as ``cron_expression=``, the guide's name for it.
    """

    expression: str = attrs.field(converter=_cron_expression)
    timezone: str = attrs.field(default="UTC", converter=_timezone)

    def __init__(self, expression: Any = None, timezone: Any = None, *, cron_expression: Any = None) -> None:
        if expression is None and cron_expression is None:
            wrong_type(
                "Cron.expression",
                None,
                'a str with five cron fields, e.g. "0 6 * * 1-5", passed once (expression or cron_expression)',
            )
        if expression is not None and cron_expression is not None:
            raise ConfigurationTypeError("Cron: pass the cron expression once (expression or cron_expression)")
        self.__attrs_init__(expression if cron_expression is None else cron_expression, timezone)

    @property
    def cron_expression(self) -> str:
        return self.expression

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment`` (aware, in this schedule's zone; a
        naive ``moment`` is in that zone). :meth:`FixedRate.next_after` is the same for a rate.

        Matches are wall times in the zone. One that does not exist (the hour skipped when
        daylight saving time begins) does not fire that day; one that occurs twice (the hour
        repeated when it ends) fires once, at its first occurrence.
        """
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        zone = ZoneInfo(self.timezone)
        after = moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)
        for wall in CronSim(self.expression, after.replace(tzinfo=None)):  # naive wall times
            local = wall.replace(tzinfo=zone)  # fold=0: the first of a repeated wall time
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
                continue  # skipped by a DST transition: this wall time does not exist today
            if local.astimezone(UTC) > after.astimezone(UTC):  # same-zone comparison ignores fold
                return local
        raise AssertionError("unreachable: a cron schedule always has a next time")


def _interval(value: Any) -> int:
    minutes = positive_int("FixedRate.interval_minutes", value)
    if minutes > MAX_INTERVAL_MINUTES:
        invalid("FixedRate.interval_minutes", value, f"1 to {MAX_INTERVAL_MINUTES:,} minutes (365 days)", "is too long")
    return minutes


MAX_INTERVAL_MINUTES = 365 * 24 * 60


def _start_time(value: Any) -> datetime | None:
    if value is not None and not isinstance(value, datetime):
        wrong_type("FixedRate.start_time", value, "a datetime or None")
    return value


@attrs.frozen
class FixedRate:
    """Fire every ``interval_minutes`` minutes, counted from ``start_time`` (or activation)."""

    interval_minutes: int = attrs.field(converter=_interval)
    start_time: datetime | None = attrs.field(default=None, converter=_start_time)

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment`` (aware, in UTC; a naive ``moment`` or
        ``start_time`` is UTC), as :meth:`Cron.next_after` gives it for a cron schedule.

        With ``start_time`` the fire times are ``start_time + k * interval`` (``start_time``
        itself for any earlier ``moment``). Without it the rate counts from the trigger's
        activation and then from each fire, so pass that moment: the next fire is one
        interval later.
        """
        after = _as_utc(moment)
        interval = timedelta(minutes=self.interval_minutes)
        if self.start_time is None:
            return after + interval
        start = _as_utc(self.start_time)
        if after < start:
            return start
        return start + (math.floor((after - start) / interval) + 1) * interval


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _automation(value: Any) -> Cron | FixedRate | None:
    if value is None or isinstance(value, (Cron, FixedRate)):  # None: a manual trigger
        return value
    if isinstance(value, str):  # "0 6 * * *" as a shorthand for Cron("0 6 * * *")
        return Cron(value)
    if isinstance(value, Trigger) and value.automation is not None:
        return _schedule_of(value)
    wrong_type("Trigger.automation", value, "a flyte.Cron, a flyte.FixedRate, or None (fired on demand only)")


def _schedule_of(trigger: Trigger) -> Cron | FixedRate:
    """``Trigger(name, Trigger.daily())``: the guide's signature fragment passes a Trigger as
    the automation. Its schedule is taken; anything else it sets would be lost, so that is an
    error showing how to keep it."""
    default_inputs = {trigger.trigger_time_input_key: TriggerTime} if trigger.trigger_time_input_key else {}
    lost = [
        name
        for name, value in (
            ("inputs", (trigger.inputs or {}) != default_inputs and trigger.inputs),
            ("env_vars", trigger.env_vars),
            ("interruptible", trigger.interruptible is not None),
            ("overwrite_cache", trigger.overwrite_cache),
            ("queue", trigger.queue),
            ("labels", trigger.labels),
            ("annotations", trigger.annotations),
            ("auto_activate", not trigger.auto_activate),
            ("trigger_time_input_key", trigger.trigger_time_required),
            ("notifications", trigger.notifications),
        )
        if value
    ]
    if lost:
        settings = ", ".join(f"{n}=..." for n in lost)
        predefined = f"flyte.Trigger.{trigger.name}(name=..., {settings}) or " if trigger.name in _PREDEFINED else ""
        raise ConfigurationError(
            f"Trigger.automation: the trigger {trigger.name!r} given as automation also sets {', '.join(lost)}, "
            f"which would be lost; write {predefined}flyte.Trigger(name, {_spelling(trigger.automation)}, {settings})"
        )
    assert trigger.automation is not None  # checked by the caller
    return trigger.automation


_PREDEFINED = ("minutely", "hourly", "daily", "weekly", "monthly")


def _spelling(automation: Cron | FixedRate) -> str:
    if isinstance(automation, Cron):
        zone = f", timezone={automation.timezone!r}" if automation.timezone != "UTC" else ""
        return f"flyte.Cron({automation.expression!r}{zone})"
    start = f", start_time={automation.start_time!r}" if automation.start_time else ""
    return f"flyte.FixedRate({automation.interval_minutes}{start})"


def _inputs(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        # An AttributeError too: the reference SDK fails calling the value's .items().
        wrong_type("Trigger.inputs", value, "a dict of input name to value", ConfigurationAttributeError)
    return dict(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        wrong_type("Trigger.name", value, "a non-empty str")
    return no_control_characters("Trigger.name", value)


def _description(value: Any) -> str:
    if not isinstance(value, str):
        wrong_type("Trigger.description", value, "a str")
    return value


def _optional_bool(param: str):
    def _check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, bool):
            wrong_type(param, value, "True, False or None")

    return _check


def _frozen(check: Any) -> Any:
    """A converter: ``check`` (validates, may return None), then stored as a FrozenDict."""

    def convert(value: Any) -> FrozenDict | None:
        checked = check(value)
        return None if checked is None else FrozenDict(checked)

    return convert


def _notifications(value: Any) -> Any:
    if value is None:
        return None
    from flyte.notify import NamedRule, to_notifications  # only for a trigger that has some

    rules = to_notifications("Trigger.notifications", value)
    if not rules:
        return None
    return rules[0] if len(rules) == 1 and isinstance(rules[0], NamedRule) else rules


@attrs.frozen
class Trigger:
    """A named launch configuration of a task: the inputs, env vars and settings of the runs
    it starts, and the notifications they deliver when they end.

    ``automation`` fires it on a :class:`Cron` or :class:`FixedRate` schedule; without one (a
    manual trigger) nothing fires it on its own: ``flyte.run(flyte.remote.Trigger.get(...))``
    does. ``inputs`` gives values for the task's parameters (over its defaults);
    ``flyte.TriggerTime`` as a value receives the fire time (UTC), which only a scheduled
    trigger has. ``env_vars``, ``interruptible``, ``overwrite_cache`` and ``queue`` override
    the task's settings for triggered runs; ``notifications`` (``flyte.notify`` rules, one or a
    tuple) are delivered when a triggered run ends. ``max_action_concurrency`` caps the task
    bodies of a triggered run running at once (0 or at least 2; as
    ``with_runcontext(max_action_concurrency=)``); ``custom_context`` is what its tasks read
    with ``flyte.ctx().custom_context``.
    """

    name: str = attrs.field(converter=_name)
    automation: Cron | FixedRate | None = attrs.field(default=None, converter=_automation)
    description: str = attrs.field(default="", converter=_description)
    auto_activate: bool = attrs.field(default=True, validator=is_bool("Trigger.auto_activate"))
    # The user's values as written (the task receives them), compared and hashed by encoding.
    inputs: dict[str, Any] | None = attrs.field(default=None, converter=_inputs, eq=lambda d: value_key(d or {}))
    env_vars: FrozenDict | None = attrs.field(default=None, converter=_frozen(str_dict("Trigger.env_vars")))
    interruptible: bool | None = attrs.field(default=None, validator=_optional_bool("Trigger.interruptible"))
    overwrite_cache: bool = attrs.field(default=False, validator=is_bool("Trigger.overwrite_cache"))
    queue: str | None = attrs.field(default=None, converter=optional(lambda v: label_value("Trigger.queue", v)))
    max_action_concurrency: int | None = attrs.field(
        default=None, converter=lambda v: action_concurrency("Trigger.max_action_concurrency", v)
    )
    labels: FrozenDict | None = attrs.field(default=None, converter=_frozen(k8s_labels("Trigger.labels")))
    annotations: FrozenDict | None = attrs.field(
        default=None, converter=_frozen(k8s_annotations("Trigger.annotations"))
    )
    # The parameter a predefined trigger hands its fire time to, and whether the user named it
    # (then the task must have that parameter; the default "trigger_time" is optional).
    trigger_time_input_key: str | None = attrs.field(default=None, kw_only=True)
    trigger_time_required: bool = attrs.field(default=False, kw_only=True)
    # None, a flyte.notify.NamedRule, or a tuple of flyte.notify Notifications.
    notifications: Any = attrs.field(default=None, kw_only=True, converter=_notifications)
    # Read with flyte.ctx().custom_context by every task of a triggered run.
    custom_context: FrozenDict | None = attrs.field(
        default=None, kw_only=True, converter=_frozen(str_dict("Trigger.custom_context"))
    )

    def __attrs_post_init__(self) -> None:
        if self.automation is None:
            bound = [k for k, v in (self.inputs or {}).items() if v is TriggerTime]
            if bound:
                invalid(
                    f"Trigger.inputs[{bound[0]!r}]",
                    TriggerTime,
                    "flyte.TriggerTime only in a scheduled trigger (automation=flyte.Cron(...) or "
                    "flyte.FixedRate(...)); give a manual trigger's input a value, or leave it to the task's default",
                    f"is bound in the manual trigger {self.name!r}, which has no fire time",
                )

    @classmethod
    def _predefined(
        cls,
        schedule: str,
        default_name: str,
        default_description: str,
        trigger_time_input_key: str | None,
        kwargs: dict[str, Any],
    ) -> Trigger:
        if trigger_time_input_key is not None and not (
            isinstance(trigger_time_input_key, str) and trigger_time_input_key.isidentifier()
        ):
            wrong_type("trigger_time_input_key", trigger_time_input_key, "the name of a parameter of the task (a str)")
        unknown = [k for k in kwargs if k not in _PREDEFINED_OPTIONS]
        if unknown:
            raise ConfigurationTypeError(
                f"Trigger.{default_name}: unknown parameter `{unknown[0]}` "
                f"(accepted: trigger_time_input_key, {', '.join(_PREDEFINED_OPTIONS)})"
            )
        name = kwargs.pop("name", None) or default_name
        description = kwargs.pop("description", None) or default_description
        key = trigger_time_input_key or "trigger_time"
        inputs = {key: TriggerTime, **(kwargs.pop("inputs", None) or {})}
        return cls(
            name,
            Cron(schedule),
            description=description,
            inputs=inputs,
            trigger_time_input_key=key,
            trigger_time_required=trigger_time_input_key is not None,
            **kwargs,
        )

    @classmethod
    def minutely(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """Every minute (``* * * * *``)."""
        return cls._predefined(
            "* * * * *", "minutely", "A trigger that runs every minute", trigger_time_input_key, kwargs
        )

    @classmethod
    def hourly(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """Every hour, on the hour (``0 * * * *``)."""
        return cls._predefined("0 * * * *", "hourly", "A trigger that runs every hour", trigger_time_input_key, kwargs)

    @classmethod
    def daily(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """Every day at midnight (``0 0 * * *``)."""
        return cls._predefined(
            "0 0 * * *", "daily", "A trigger that runs daily at midnight", trigger_time_input_key, kwargs
        )

    @classmethod
    def weekly(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """Every Sunday at midnight (``0 0 * * 0``)."""
        return cls._predefined(
            "0 0 * * 0", "weekly", "A trigger that runs weekly on Sundays at midnight", trigger_time_input_key, kwargs
        )

    @classmethod
    def monthly(cls, trigger_time_input_key: str | None = None, **kwargs: Any) -> Trigger:
        """The first day of every month at midnight (``0 0 1 * *``)."""
        return cls._predefined(
            "0 0 1 * *", "monthly", "A trigger that runs monthly on the 1st at midnight", trigger_time_input_key, kwargs
        )


# What a predefined trigger (Trigger.daily(...), ...) takes besides trigger_time_input_key:
# Trigger's own parameters, less the schedule it fixes.
_PREDEFINED_OPTIONS = tuple(
    f.alias
    for f in attrs.fields(Trigger)
    if f.name not in ("automation", "trigger_time_input_key", "trigger_time_required")
)


def to_triggers(value: Any) -> tuple[Trigger, ...]:
    """``triggers=`` accepts one Trigger or a sequence of them; names must be unique."""
    if value is None:
        return ()
    items = (value,) if isinstance(value, Trigger) else value
    if not isinstance(items, (list, tuple)):
        wrong_type("triggers", value, "a flyte.Trigger or a list of them")
    for item in items:
        if not isinstance(item, Trigger):
            wrong_type("triggers", item, "flyte.Trigger objects")
    names = [t.name for t in items]
    for name in names:
        if names.count(name) > 1:
            invalid("triggers", name, "unique trigger names per task", "is used twice")
    return tuple(items)
