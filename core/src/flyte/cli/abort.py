"""``flyte abort run NAME``: stop a run that another process (or terminal) is running;
``flyte abort action RUN ACTION``, the reference SDK's command, for its root action."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from flyte.cli.ignored import run_scope_options
from flyte.runtime.aborts import DEFAULT_REASON


@click.group("abort")
def abort_group() -> None:
    """Stop runs that are going (their own process stops them)."""


def _abort_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options both commands take: why, and how long to wait for the run to stop."""
    command = click.option(
        "--wait",
        "wait_seconds",
        type=click.FloatRange(min=0),
        default=10.0,
        show_default=True,
        help="Seconds to wait for the run to stop (0: ask and return).",
    )(command)
    return click.option(
        "--reason", default=DEFAULT_REASON, show_default=True, help="Why: recorded as the run's error."
    )(command)


@abort_group.command("run")
@click.argument("name")
@_abort_options
@run_scope_options
def abort_run(name: str, reason: str, wait_seconds: float) -> None:
    """Abort run NAME: its process sees the request within about a second, cancels its tasks
    (deleting its Kubernetes object, if it runs on a cluster) and records it ABORTED with the
    reason. A run that has ended is left as it is."""
    _abort(name, reason, wait_seconds)


@abort_group.command("action")
@click.argument("run_name")
@click.argument("action_name")
@_abort_options
def abort_action(run_name: str, action_name: str, reason: str, wait_seconds: float) -> None:
    """Abort action ACTION_NAME of run RUN_NAME. Locally an abort stops a whole run, so only the
    root action (a0) can be named: it aborts the run, as flyte abort run RUN_NAME does."""
    from flyte.errors import ActionNotFoundError
    from flyte.remote import Action

    try:
        action = Action.get(run_name, action_name)
    except ActionNotFoundError as exc:
        raise click.ClickException(f"abort: {exc}") from None
    if action.parent is not None:
        raise click.ClickException(
            f"abort: action {action_name} of run {run_name} is not the run's root (a0); locally only a whole "
            f"run can be aborted: flyte abort run {run_name}"
        )
    _abort(run_name, reason, wait_seconds)


def _abort(name: str, reason: str, wait_seconds: float) -> None:
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
