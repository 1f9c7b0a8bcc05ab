"""``flyte runs list`` and ``flyte runs show NAME``: runs recorded in the local run store."""

from __future__ import annotations

import json
from datetime import datetime

import click

from flyte.cli.output import output_option


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@click.group("runs")
def runs_group() -> None:
    """Inspect runs recorded under the state root (they outlive the process)."""


@runs_group.command("list")
@click.option("--limit", default=20, show_default=True, help="How many runs (newest first).")
@click.option("--task", help="Only runs of this fully-qualified task name.")
@output_option("table", "json", default="table")
def list_runs(limit: int, task: str | None, output: str) -> None:
    """List recent runs."""
    from flyte.remote import Run

    runs = list(Run.listall(limit=limit, task=task))
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "task": r.task,
                        "phase": r.phase,
                        "created_at": r.created_at,
                        "ended_at": r.ended_at,
                        "error": r.error,
                    }
                    for r in runs
                ],
                indent=2,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="runs")
    for column in ("name", "task", "phase", "started", "took", "error"):
        table.add_column(column, overflow="fold")
    for r in runs:
        took = f"{r.ended_at - r.created_at:.2f}s" if r.ended_at else "-"
        table.add_row(r.name, r.task, r.phase, _when(r.created_at), took, (r.error or "")[:60])
    Console().print(table)


@runs_group.command("show")
@click.argument("name")
@output_option("table", "json", default="table")
def show_run(name: str, output: str) -> None:
    """Show a run and each of its actions."""
    from flyte.errors import ActionNotFoundError
    from flyte.remote import Run

    try:
        run = Run.get(name)
    except ActionNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    actions = run.actions()
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "name": run.name,
                    "task": run.task,
                    "phase": run.phase,
                    "error": run.error,
                    "url": run.url,
                    "actions": [
                        {
                            "id": a.id,
                            "parent": a.parent,
                            "task": a.task,
                            "phase": a.phase,
                            "attempts": a.attempts,
                            "cache": a.cache,
                            "error": a.error,
                            "report": a.report,
                        }
                        for a in actions
                    ],
                },
                indent=2,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"run [bold]{run.name}[/] · {run.task} · {run.phase} · {run.url}")
    if run.error:
        console.print(f"[red]{run.error}[/]")
    table = Table()
    for column in ("action", "parent", "task", "phase", "attempts", "cache", "took", "error"):
        table.add_column(column, overflow="fold")
    for a in actions:
        took = f"{a.duration:.3f}s" if a.duration is not None else "-"
        table.add_row(
            a.id, a.parent or "-", a.task, a.phase, str(a.attempts), a.cache or "-", took, (a.error or "")[:80]
        )
    console.print(table)
