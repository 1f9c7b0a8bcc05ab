"""Deployed triggers on this machine: when they fire, the loop that fires them, and firing
one by hand (``flyte.run(flyte.remote.Trigger.get(...))``, :func:`fire_by_hand`).

``flyte.deploy`` (local backend) records each trigger of the deployed tasks in the run store's
``triggers`` table: active or not (``auto_activate``), since when, and when it last fired.
``flyte serve triggers`` (or :func:`serve`) fires the due ones by running their task with the
trigger's inputs, env vars and settings, as a cluster's scheduler would.

When a trigger fires follows the guide exactly:

- ``Cron``: the first matching wall time, in the schedule's time zone (UTC by default), after
  activation, then every match. A wall time that does not exist (the hour skipped when
  daylight saving time begins) is not fired that day; a wall time that occurs twice (the hour
  repeated when it ends) fires once, at its first occurrence.
- ``FixedRate`` without ``start_time``: one interval after activation, then every interval.
- ``FixedRate`` with ``start_time``: at ``start_time + k * interval``; the first is the first
  such time at or after activation (``start_time`` itself when active by then). A naive
  ``start_time`` is UTC.

A trigger time passed to the task (``flyte.TriggerTime``, ``trigger_time_input_key``) is the
scheduled time, timezone-aware in UTC. When the scheduler was not running at some fire times,
it fires once, for the latest one, and records the rest as skipped.

A trigger without an automation (a manual trigger) is deployed and listed like the others,
with the schedule ``manual``; the loop never fires it.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flyte.runtime import store as st
from flyte.runtime.redact import redact
from flyte.triggers import Cron, FixedRate, Trigger, TriggerTime

logger = logging.getLogger("flyte.triggers")


# -- when ---------------------------------------------------------------------------------------
def next_fire(automation: Cron | FixedRate, activated_at: datetime, last_fired: datetime | None) -> datetime:
    """The next fire time (aware, UTC) of a trigger active since ``activated_at`` that last
    fired at ``last_fired`` (None: not yet)."""
    activated_at = _utc(activated_at)
    if last_fired is not None:
        return automation.next_after(_utc(last_fired)).astimezone(UTC)
    if isinstance(automation, FixedRate) and automation.start_time is not None:
        # At or after activation: start_time itself fires when the trigger is active by then.
        return automation.next_after(activated_at - timedelta(microseconds=1))
    return automation.next_after(activated_at).astimezone(UTC)


def upcoming(
    automation: Cron | FixedRate, activated_at: datetime, last_fired: datetime | None, count: int = 3
) -> list[datetime]:
    """The next ``count`` fire times (aware, UTC) of an active trigger."""
    times = [next_fire(automation, activated_at, last_fired)]
    while len(times) < count:
        times.append(next_fire(automation, activated_at, times[-1]))
    return times


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# The schedule recorded for a trigger without an automation: fired on demand only.
MANUAL = "manual"


def describe(automation: Cron | FixedRate | None) -> str:
    if automation is None:
        return MANUAL
    if isinstance(automation, Cron):
        return f"cron {automation.expression} ({automation.timezone})"
    start = f" from {automation.start_time.isoformat()}" if automation.start_time else ""
    return f"every {automation.interval_minutes} min{start}"


# -- the table ----------------------------------------------------------------------------------
def record_deployment(tasks: list[Any], now: float) -> None:
    """Record the triggers of deployed tasks. A trigger already recorded keeps its activation;
    a task's recorded triggers that its new deployment no longer has are deleted."""
    recorded = []
    for task in tasks:
        source = inspect.getsourcefile(task.func) or ""
        file = str(Path(source).resolve()) if source else ""
        triggers = [(t.name, file, describe(t.automation), t.auto_activate) for t in task.spec.triggers]
        recorded.append((task.spec.name, triggers))
    st.record_triggers(recorded, now)


def list_triggers(name: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
    return st.trigger_rows(name, task)


def set_active(name: str, task: str, active: bool, now: float | None = None) -> None:
    """Activate (from ``now``: fire times are counted from it) or deactivate a trigger."""
    if not st.set_trigger_active(name, task, active, now if now is not None else time.time()):
        raise LookupError(_missing(name, task))


def delete(name: str, task: str) -> None:
    if not st.delete_trigger(name, task):
        raise LookupError(_missing(name, task))


def _missing(name: str, task: str) -> str:
    known = [f"{r['name']} ({r['task']})" for r in list_triggers()]
    return f"no deployed trigger {name!r} of task {task!r} (deployed: {', '.join(known) or 'none'}; see flyte deploy)"


# -- firing -------------------------------------------------------------------------------------
def load_trigger(row: dict[str, Any]) -> tuple[Any, Trigger]:
    """The task and trigger a recorded row names, from the task's file."""
    from flyte._loader import load_file
    from flyte.task import TaskTemplate

    if not row["file"] or not Path(row["file"]).is_file():
        raise LookupError(f"trigger {row['name']}: the file of task {row['task']} ({row['file']!r}) is gone")
    module = load_file(row["file"])
    for value in vars(module).values():
        if isinstance(value, TaskTemplate) and value.name == row["task"]:
            for trigger in value.spec.triggers:
                if trigger.name == row["name"]:
                    return value, trigger
            raise LookupError(f"task {row['task']} no longer has trigger {row['name']!r}: deploy it again")
    raise LookupError(f"{row['file']} no longer defines task {row['task']}: deploy it again")


def trigger_inputs(task: Any, trigger: Trigger, fire_time: datetime) -> dict[str, Any]:
    """The task's inputs for one firing: the trigger's, with ``flyte.TriggerTime`` (and the
    ``trigger_time_input_key`` parameter, and a parameter whose default is ``flyte.TriggerTime``)
    set to the scheduled time."""
    inputs = {k: (fire_time if v is TriggerTime else v) for k, v in (trigger.inputs or {}).items()}
    key = trigger.trigger_time_input_key
    if key and key not in inputs and key in task.signature.parameters:
        inputs[key] = fire_time
    for name, param in task.signature.parameters.items():
        if name not in inputs and param.default is TriggerTime:
            inputs[name] = fire_time
    return inputs


def _active() -> Iterator[
    tuple[dict[str, Any], Any, Trigger, datetime, datetime | None] | tuple[dict[str, Any], Exception]
]:
    """Each active trigger with its task, activation and last fire time (or why it cannot load)."""
    for row in list_triggers():
        if not row["active"] or row["activated_at"] is None or row["schedule"] == MANUAL:
            continue
        try:
            task, trigger = load_trigger(row)
        except Exception as exc:
            yield row, exc
            continue
        last = datetime.fromtimestamp(row["last_fired"], UTC) if row["last_fired"] is not None else None
        yield row, task, trigger, datetime.fromtimestamp(row["activated_at"], UTC), last


def fire_due(now: datetime | None = None, runner: Callable[..., Any] | None = None) -> list[tuple[str, str, Any]]:
    """Fire every active trigger that is due at ``now``; returns ``(trigger, task, run or
    error)`` for each firing. ``runner(task, trigger, inputs)`` runs one (a local run by default)."""
    now = _utc(now or datetime.now(UTC))
    fired = []
    for entry in _active():
        if len(entry) == 2:  # one broken trigger must not stop the others
            row, exc = entry
            logger.error("%s", exc)
            fired.append((row["name"], row["task"], exc))
            continue
        row, task, trigger, activated, last = entry
        if trigger.automation is None:  # recorded as scheduled, made manual since: deploy again
            continue
        due = next_fire(trigger.automation, activated, last)
        if due > now:
            continue
        skipped = 0
        while (later := next_fire(trigger.automation, activated, due)) <= now:
            due, skipped = later, skipped + 1
        if skipped:
            logger.warning(
                "trigger %s of %s: %d earlier fire time(s) missed; firing for %s",
                row["name"],
                row["task"],
                skipped,
                due,
            )
        st.trigger_fired(row["name"], row["task"], due.timestamp())  # first: a crash never fires it twice
        try:
            outcome = (runner or _run)(task, trigger, trigger_inputs(task, trigger, due))
        except Exception as exc:  # the run is recorded as failed; the schedule goes on
            outcome = exc
        fired.append((row["name"], row["task"], outcome))
    return fired


def _run(task: Any, trigger: Trigger, inputs: dict[str, Any], context: Any = None) -> Any:
    """Run ``task`` as ``trigger`` fired it: its settings, env vars and notifications under
    ``context``'s (a ``flyte.with_runcontext``; what it sets wins)."""
    from flyte.notify import to_notifications
    from flyte.runtime.api import RunContext
    from flyte.runtime.pulse import started_by

    overrides = {k: v for k, v in (("interruptible", trigger.interruptible), ("queue", trigger.queue)) if v is not None}
    if overrides:
        task = task.override(**overrides)
    given = context or RunContext()
    layered = RunContext(
        name=given.name,
        overwrite_cache=given.overwrite_cache or trigger.overwrite_cache,
        disable_run_cache=given.disable_run_cache,
        env_vars={**(trigger.env_vars or {}), **given.env_vars},
        custom_context={**(trigger.custom_context or {}), **given.custom_context},
        max_action_concurrency=given.max_action_concurrency or trigger.max_action_concurrency,
    )
    # Both deliver: the trigger's rules, then the run's.
    layered.notifications = (*to_notifications("notifications", trigger.notifications), *given.notifications)
    layered.labels, layered.annotations = given.labels, given.annotations
    with started_by(f"trigger {trigger.name}"):
        return layered.run(task, **inputs)


def fire_by_hand(deployed: Any, context: Any, args: tuple[Any, ...], overrides: dict[str, Any]) -> Any:
    """Run the trigger ``deployed`` (a :class:`flyte.remote.Trigger`) now: its task with the
    trigger's inputs over the task's defaults and ``overrides`` over both, its env vars and
    notifications, under ``context`` (``flyte.with_runcontext``). A ``flyte.TriggerTime``
    input gets the time it was fired (UTC) unless an override sets it. Returns the Run."""
    from flyte.errors import ConfigurationError

    if args:
        raise ConfigurationError(
            f"flyte.run(trigger {deployed.name!r}): inputs override the trigger's by keyword only "
            f"(flyte.run(trigger, days=3)); got {len(args)} positional argument(s)"
        )
    task, trigger = load_trigger({"name": deployed.name, "task": deployed.task_name, "file": deployed.file})
    unknown = sorted(set(overrides) - set(task.signature.parameters))
    if unknown:
        known = ", ".join(task.signature.parameters) or "none"
        raise ConfigurationError(
            f"flyte.run(trigger {deployed.name!r}): {', '.join(unknown)} is not an input of {task.name} "
            f"(accepted: {known})"
        )
    inputs = {**trigger_inputs(task, trigger, datetime.now(UTC)), **overrides}
    return _run(task, trigger, inputs, context)


def next_wakeup(now: datetime) -> float:
    """Seconds until the earliest next fire time of the active triggers (at most a minute)."""
    soonest = 60.0
    for entry in _active():
        if len(entry) == 5 and entry[2].automation is not None:
            _, _, trigger, activated, last = entry
            soonest = min(soonest, (next_fire(trigger.automation, activated, last) - now).total_seconds())
    return max(soonest, 0.0)


def serve(once: bool = False, echo: Callable[[str], None] = print) -> None:
    """Fire due triggers until interrupted (``once``: fire what is due now and return)."""
    while True:
        for name, task, outcome in fire_due():
            what = f"run {outcome.name} {outcome.phase}" if hasattr(outcome, "phase") else f"failed: {outcome}"
            echo(redact(f"trigger {name} of {task}: {what}"))  # a run's error may hold its secret
        if once:
            return
        time.sleep(max(0.5, next_wakeup(datetime.now(UTC))))


def as_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, default=str)
