"""``flyte get/update/delete trigger`` and ``flyte serve triggers``: deployed triggers here."""

from __future__ import annotations

from datetime import UTC, datetime

import click


@click.command("trigger")
@click.argument("name", required=False)
@click.argument("task", required=False)
def get_trigger(name: str | None, task: str | None) -> None:
    """List deployed triggers (or one: NAME [TASK]) with their schedule, state and next fire."""
    from flyte.runtime import schedule

    rows = schedule.list_triggers(name, task)
    if name and not rows:
        raise click.ClickException(f"no deployed trigger {name!r}" + (f" of task {task!r}" if task else ""))
    for row in rows:
        state = "active" if row["active"] else "inactive"
        last = (
            datetime.fromtimestamp(row["last_fired"], UTC).isoformat(timespec="seconds")
            if row["last_fired"]
            else "never"
        )
        click.echo(f"{row['name']}  {row['task']}  {row['schedule']}  {state}  last fired: {last}")


@click.command("trigger")
@click.argument("name")
@click.argument("task")
@click.option("--activate/--deactivate", required=True, help="Start or stop firing the trigger.")
def update_trigger(name: str, task: str, activate: bool) -> None:
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
def delete_trigger(name: str, task: str) -> None:
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
