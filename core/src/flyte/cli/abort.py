"""``flyte abort run NAME``: stop a run that another process (or terminal) is running."""

from __future__ import annotations

import time

import click

from flyte.runtime.aborts import DEFAULT_REASON


@click.group("abort")
def abort_group() -> None:
    """Stop runs that are going (their own process stops them)."""


@abort_group.command("run")
@click.argument("name")
@click.option("--reason", default=DEFAULT_REASON, show_default=True, help="Why: recorded as the run's error.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the run to stop (0: ask and return).",
)
def abort_run(name: str, reason: str, wait_seconds: float) -> None:
    """Abort run NAME: its process sees the request within about a second, cancels its tasks
    (deleting its Kubernetes object, if it runs on a cluster) and records it ABORTED with the
    reason. A run that has ended is left as it is."""
    from flyte.remote import Run
    from flyte.runtime import aborts
    from flyte.runtime import store as st

    try:
        phase = aborts.request(name, reason)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if phase in st.TERMINAL:
        click.echo(f"run {name} had already ended: {phase}")
        return
    deadline = time.monotonic() + wait_seconds
    while wait_seconds and time.monotonic() < deadline:
        phase = Run.get(name).phase
        if phase in st.TERMINAL:
            click.echo(f"run {name}: {phase}")
            return
        time.sleep(0.2)
    click.echo(f"run {name}: abort requested; its process stops it within about a second")
