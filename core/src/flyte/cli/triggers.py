"""``flyte get/update/delete trigger`` and ``flyte serve triggers``: deployed triggers here."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from flyte.cli.output import output_option


def _scope(func):  # type: ignore[no-untyped-def]
    """The guide's --project/--domain. A local state root keeps one set of deployed triggers,
    not one per project and domain, so they are accepted and select nothing."""
    note = "Accepted as in the guide's commands; locally every deployed trigger is in one scope."
    func = click.option("--domain", "-d", "_domain", help=note)(func)
    return click.option("--project", "-p", "_project", help=note)(func)


@click.command("trigger")
@click.argument("name", required=False)
@click.argument("task", required=False)
@click.option("--count", default=3, show_default=True, help="How many next fire times to show.")
@output_option("table", "json", default="table")
@_scope
def get_trigger(name: str | None, task: str | None, count: int, output: str, **_scope_given: str | None) -> None:
    """List deployed triggers (or one: NAME [TASK]) with their schedule, state, last fire and
    next fire times (UTC)."""
    from flyte.runtime import schedule

    rows = schedule.list_triggers(name, task)
    if name and not rows:
        raise click.ClickException(f"no deployed trigger {name!r}" + (f" of task {task!r}" if task else ""))
    for row in rows:
        row["next_fires"] = _next_fires(row, count)
    if output == "json":
        click.echo(schedule.as_json(rows))
        return
    for row in rows:
        state = "active" if row["active"] else "inactive"
        last = _iso(row["last_fired"]) if row["last_fired"] else "never"
        upcoming = row["next_fires"]
        shown = ", ".join(upcoming) if isinstance(upcoming, list) else upcoming
        click.echo(f"{row['name']}  {row['task']}  {row['schedule']}  {state}  last fired: {last}  next: {shown}")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _next_fires(row: dict, count: int) -> list[str] | str:
    """The trigger's next fire times, or why there are none."""
    from flyte.runtime import schedule

    if row["schedule"] == schedule.MANUAL:
        return "on demand (flyte.run(flyte.remote.Trigger.get(...)))"
    if not row["active"] or row["activated_at"] is None:
        return "when activated"
    try:
        _, trigger = schedule.load_trigger(row)
    except LookupError as exc:
        return f"unknown ({exc})"
    activated = datetime.fromtimestamp(row["activated_at"], UTC)
    last = datetime.fromtimestamp(row["last_fired"], UTC) if row["last_fired"] else None
    times = schedule.upcoming(trigger.automation, activated, last, count)
    if times[0] > datetime.now(UTC):
        return [t.isoformat(timespec="seconds") for t in times]
    # Fire times passed while no scheduler ran: the next one to run fires once, for the latest
    # (schedule.fire_due), so they are one "due now", not past times listed as next.
    now, due = datetime.now(UTC), times[0]
    while (later := schedule.next_fire(trigger.automation, activated, due)) <= now:
        due = later
    missed = f"due now (missed since {times[0].isoformat(timespec='seconds')}; fired once by `flyte serve triggers`)"
    later_times = schedule.upcoming(trigger.automation, activated, due, count - 1) if count > 1 else []
    return [missed, *(t.isoformat(timespec="seconds") for t in later_times)]


@click.command("trigger")
@click.argument("name")
@click.argument("task")
@click.option("--activate/--deactivate", required=True, help="Start or stop firing the trigger.")
@_scope
def update_trigger(name: str, task: str, activate: bool, **_scope_given: str | None) -> None:
    """Activate or deactivate trigger NAME of TASK (fire times count from the activation)."""
    from flyte.runtime import schedule

    try:
        schedule.set_active(name, task, activate)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"trigger {name} of {task} {'activated' if activate else 'deactivated'}")


@click.command("trigger")
@click.argument("name")
@click.argument("task")
@_scope
def delete_trigger(name: str, task: str, **_scope_given: str | None) -> None:
    """Delete trigger NAME of TASK (deploying the task again brings it back)."""
    from flyte.runtime import schedule

    try:
        schedule.delete(name, task)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted trigger {name} of {task}")


@click.group("update")
def update_group() -> None:
    """Change resources (triggers)."""


@click.group("serve")
def serve_group() -> None:
    """Run long-lived local services (the trigger scheduler)."""


@serve_group.command("triggers")
@click.option("--once", is_flag=True, help="Fire what is due now and exit (e.g. from cron).")
def serve_triggers(once: bool) -> None:
    """Fire the deployed, active triggers on schedule by running their tasks locally, until
    interrupted. Deploy with `flyte deploy FILE ENV` first."""
    import flyte
    from flyte.runtime import schedule

    flyte.init()
    if not once:
        click.echo(f"serving {sum(1 for r in schedule.list_triggers() if r['active'])} active trigger(s); Ctrl-C stops")
    schedule.serve(once=once, echo=click.echo)


update_group.add_command(update_trigger)
