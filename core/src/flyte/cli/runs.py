"""``flyte runs list`` and ``flyte runs show NAME``: runs recorded in the local run store."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import click

from flyte.cli.ignored import run_scope_options
from flyte.cli.output import output_option
from flyte.models import ActionPhase
from flyte.runtime.store import SEVERITY, action_id, by_severity


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@click.group("runs")
def runs_group() -> None:
    """Inspect runs recorded under the state root (they outlive the process)."""


PHASES = SEVERITY  # the order `runs show` lists them in
DEFAULT_LIMIT = 50


def _phases(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str] | None:
    """``--status failed --status running`` or ``--status failed,running``, any case."""
    chosen = [v.strip().upper() for value in values for v in value.split(",") if v.strip()]
    for phase in chosen:
        if phase not in PHASES:
            raise click.BadParameter(f"{phase!r} is not a phase (accepted: {', '.join(PHASES)})", ctx, param)
    return chosen or None


@runs_group.command("list")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs (newest first)."
)
@click.option("--task", help="Only runs of this fully-qualified task name.")
@click.option(
    "--status",
    "phases",
    multiple=True,
    callback=_phases,
    metavar="PHASE[,PHASE]",
    help=f"Only runs in these phases ({', '.join(PHASES)}); repeat or separate with commas.",
)
@output_option("table", "json", default="table")
def list_runs(limit: int, task: str | None, output: str, phases: list[str] | None = None) -> None:
    """List recent runs."""
    from flyte.remote import Run

    runs = list(Run.listall(limit=limit, task=task, in_phase=phases))
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
                        "backend": r.backend or "local",
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
@click.argument("action", required=False)
@click.option(
    "--status",
    "phases",
    multiple=True,
    callback=_phases,
    metavar="PHASE[,PHASE]",
    help=f"Only actions in these phases ({', '.join(PHASES)}); repeat or separate with commas.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="Actions to list (0: all of them, streamed).",
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many actions (the next page).")
@output_option("table", "json", default="table")
def show_run(name: str, action: str | None, phases: list[str] | None, limit: int, offset: int, output: str) -> None:
    """Show a run: its phase, how many actions are in each phase, then its actions, failed
    ones first, a page at a time (--limit, --offset), optionally only some phases (--status).
    With ACTION (e.g. a3): that action in full (attempts, errors with tracebacks, inputs,
    outputs, cache key, logs)."""
    from flyte.errors import ActionNotFoundError
    from flyte.remote import Run

    try:
        run = Run.get(name)
    except ActionNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    if action is not None:
        from flyte.cli.action_detail import show_action

        show_action(run, action, output)
        return
    page = _Page(run, phases, limit or None, offset)
    if output == "json":
        _show_json(page)
    else:
        _show_text(page)
        _show_connector_jobs(name)
        show_cluster_objects(run.cluster_objects())
        _show_notifications(run.notifications())


def _connector_jobs(name: str) -> list[dict[str, Any]]:
    """The remote work a run's connector tasks started (a query id, a job id ...)."""
    from flyte.runtime import store as st

    with st.reader() as conn:
        rows = st.connector_jobs(conn, name)
    return [
        {
            "action": row["action"],
            "attempt": row["attempt"],
            "connector": row["connector"],
            "state": row["state"],
            "metadata": json.loads(row["metadata"]),
            "message": row["message"],
            "log_links": json.loads(row["log_links"]) if row["log_links"] else [],
        }
        for row in rows
    ]


def _show_connector_jobs(name: str) -> None:
    jobs = _connector_jobs(name)
    if not jobs:
        return
    click.echo("remote work (connector jobs):")
    for job in jobs:
        links = "".join(f"  {title}: {uri}" for title, uri in job["log_links"])
        message = f"  {job['message'].splitlines()[0][:100]}" if job["message"] else ""
        where = f"{job['action']}#{job['attempt']}  {job['connector'].rsplit('.', 1)[-1]}  {job['state']}"
        click.echo(f"  {where}  {json.dumps(job['metadata'])}{message}{links}")


def _show_notifications(deliveries: list[dict[str, Any]]) -> None:
    """What each flyte.notify notification of the run's end did (targets never show a secret)."""
    if not deliveries:
        return
    click.echo("notifications:")
    for d in deliveries:
        detail = f"  {d['detail'].splitlines()[0][:150]}" if d["detail"] else ""
        click.echo(f"  {d['kind']} to {d['target']}  on {d['phase']}  {d['outcome']}{detail}")


def show_cluster_objects(objects: list[dict[str, Any]]) -> None:
    """Where a cluster run's objects are, the YAML kept of each, and how to inspect them."""
    if not objects:
        return
    click.echo("Kubernetes objects:")
    for obj in objects:
        context = f" (context {obj['context']})" if obj["context"] else ""
        click.echo(f"  {obj['action']}  {obj['kind']} {obj['namespace']}/{obj['name']}{context}")
        click.echo(f"    yaml: {obj['manifest']}")
        for command in obj["kubectl"]:
            click.echo(f"    {command}")


@runs_group.command("cancel")
@click.argument("name")
def cancel_run(name: str) -> None:
    """Cancel the remote work (warehouse queries, batch jobs) that run NAME's connector tasks
    left running when its process died (killed, crashed, machine lost)."""
    from flyte.errors import ActionNotFoundError
    from flyte.remote import Run
    from flyte.runtime import store as st
    from flyte.runtime.connectors import CANCELLED, cancel_left_behind

    try:
        run = Run.get(name)  # a run whose process is gone is recorded ABORTED here
    except ActionNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    if run.phase in (st.RUNNING, st.QUEUED):
        host, pid = st.run_process(name)
        raise click.ClickException(
            f"run {name} is still running (process {pid} on {host}): stop it with flyte abort run {name}; "
            "its connector jobs are cancelled as it stops"
        )
    results = cancel_left_behind(name)
    if not results:
        click.echo(f"run {name} ({run.phase}) left no connector job running")
        return
    for action, state, message in results:
        click.echo(f"{action}: {state}: {message}")
    if any(state != CANCELLED for _, state, _ in results):
        raise click.ClickException(f"some connector jobs of run {name} could not be cancelled (see above)")


class _Page:
    """What `flyte runs show` lists: the run's counts and one page of its actions."""

    def __init__(self, run: Any, phases: list[str] | None, limit: int | None, offset: int):
        self.run = run
        self.counts = run.action_counts()
        self.total = sum(self.counts.values())
        self.matching = sum(n for p, n in self.counts.items() if phases is None or p in phases)
        self.phases, self.limit, self.offset = phases, limit, offset
        shown = max(0, self.matching - offset)
        self.shown = shown if limit is None else min(limit, shown)

    @property
    def next_offset(self) -> int | None:
        end = self.offset + self.shown
        return end if end < self.matching else None

    def actions(self) -> Iterator[Any]:
        return self.run.iter_actions(self.phases, failed_first=True, offset=self.offset, limit=self.limit)

    def next_command(self) -> str:
        status = f" --status {','.join(self.phases)}" if self.phases else ""
        limit = f" --limit {self.limit}" if self.limit != DEFAULT_LIMIT else ""
        return f"flyte runs show {self.run.name}{status}{limit} --offset {self.next_offset}"


def _show_json(page: _Page) -> None:
    """One JSON document, written as the actions stream by (no list of them is kept)."""
    run = page.run
    head = {
        "name": run.name,
        "task": run.task,
        "phase": run.phase,
        "error": run.error,
        "url": run.url,
        "backend": run.backend or "local",
        "summary": page.counts,
        "total": page.total,
        "matching": page.matching,
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": page.next_offset,
        "connector_jobs": _connector_jobs(run.name),
        "cluster_objects": run.cluster_objects(),
        "notifications": run.notifications(),
    }
    click.echo(json.dumps(head, indent=2)[:-2] + ',\n  "actions": [', nl=False)
    for i, a in enumerate(page.actions()):
        record = {
            "id": a.id,
            "parent": a.parent,
            "task": a.task,
            "group": a.group,
            "phase": a.phase,
            "attempts": a.attempts,
            "cache": a.cache,
            "started_at": a.started_at,
            "ended_at": a.ended_at,
            "error": a.error,
            "report": a.report,
            "worker": a.worker,
        }
        click.echo(("," if i else "") + "\n    " + json.dumps(record), nl=False)
    click.echo("\n  ]\n}")


COLUMNS = ("ACTION", "PARENT", "TASK", "GROUP", "PHASE", "ATTEMPTS", "CACHE", "TOOK", "WORKER", "ERROR")


def _show_text(page: _Page) -> None:
    """A header, the counts, then the page as fixed-width rows printed as they are read."""
    run = page.run
    click.echo(f"run {run.name} · {run.task} · {run.phase} · {run.url}")
    if run.error:
        click.secho(f"error: {run.error}", fg="red")
    summary = " · ".join(f"{p} {n:,}" for p, n in ((p, page.counts[p]) for p in by_severity(page.counts)))
    click.echo(f"actions: {page.total:,}" + (f" ({summary})" if summary else ""))
    if not page.shown:
        click.echo("no actions" + (f" in phase {', '.join(page.phases)}" if page.phases else "") + " to show")
        return
    widths = [max(6, len(action_id(page.total))), max(6, len(action_id(page.total))), 0, 0, 9, 8, 8, 8, 0]
    rows = page.actions()
    first = list(itertools.islice(rows, 200))  # the task column fits these; longer names are cut
    widths[2] = min(60, max([4, *(len(a.task) for a in first)]))
    widths[3] = min(40, max([5, *(len(a.group or "-") for a in first)]))  # flyte.group / flyte.map
    widths[8] = min(40, max([6, *(len(a.worker or "-") for a in first)]))  # "-": this process
    click.echo(_line(COLUMNS, widths))
    for a in itertools.chain(first, rows):
        took = f"{a.duration:.3f}s" if a.duration is not None else "-"
        error = (a.error or "").splitlines()[0][:100] if a.error else ""
        group, cache, worker = a.group or "-", a.cache or "-", a.worker or "-"
        cells = (a.id, a.parent or "-", a.task, group, a.phase, str(a.attempts), cache, took, worker, error)
        click.echo(_line(cells, widths))
    where = f" in phase {', '.join(page.phases)}" if page.phases else ""
    note = f"{page.offset + 1:,}-{page.offset + page.shown:,} of {page.matching:,} actions{where}, failed first"
    if page.next_offset is not None:
        note += f"; next: {page.next_command()}"
    click.echo(note)
    if run.phase == "FAILED":
        from flyte.cli.action_detail import failure_hint

        click.echo(failure_hint(run.name))


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    parts = [cell[:width].ljust(width) for cell, width in zip(cells, widths, strict=False)]
    return "  ".join([*parts, *cells[len(widths) :]]).rstrip()


# The reference SDK's run phases (`flyte get run --in-phase`): ActionPhase's values. Those a
# local run never records (paused, timed_out, ...) are accepted and match no run.
REFERENCE_PHASES = tuple(phase.value for phase in ActionPhase)


@click.command("run")
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs to list.")
@click.option(
    "--in-phase",
    "in_phase",
    multiple=True,
    type=click.Choice(REFERENCE_PHASES, case_sensitive=False),
    help="Only runs in this phase (repeatable).",
)
@click.option("--task-name", help="Only runs of this fully-qualified task name.")
@output_option("table", "json", default="table")
@run_scope_options
@click.pass_context
def get_run(
    ctx: click.Context, name: str | None, limit: int, in_phase: tuple[str, ...], task_name: str | None, output: str
) -> None:
    """List recent runs (as flyte runs list), or show run NAME (as flyte runs show NAME): the
    reference SDK's spelling."""
    if name is None:
        phases = [p.upper() for p in in_phase] or None
        ctx.invoke(list_runs, limit=limit, task=task_name, phases=phases, output=output, json_alias=False)
        return
    given = [option for option, value in (("--in-phase", in_phase), ("--task-name", task_name)) if value]
    if given:
        raise click.UsageError(f"{', '.join(given)} filter(s) the list of runs; not with NAME ({name})")
    ctx.invoke(show_run, name=name, phases=None, output=output, json_alias=False)
