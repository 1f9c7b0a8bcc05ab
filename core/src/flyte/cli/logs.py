"""``flyte logs RUN [ACTION] [--attempt N] [--follow]``: what a run's tasks printed."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import click

from flyte.cli.ignored import run_scope_options

# Log files are <action>-<attempt>.log (flyte.runtime.logs.log_path).
_LOG_NAME = re.compile(r"^a(\d+)-(\d+)\.log$")
POLL = 0.25  # seconds between looks at the files while following


def _files(folder: Path, action: str | None, attempt: int | None) -> list[tuple[int, int, Path]]:
    """The run's log files, in action creation order then attempt order."""
    from flyte.runtime import store as st

    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _LOG_NAME.match(path.name)
            if match is None:
                continue
            number, n = int(match[1]), int(match[2])
            if action is not None and st.action_id(number) != action:
                continue
            if attempt is not None and n != attempt:
                continue
            found.append((number, n, path))
    return sorted(found)


@click.command("logs")
@click.argument("run")
@click.argument("action", required=False)
@click.option("--attempt", "-a", type=click.IntRange(min=1), help="Only this attempt of ACTION (1 is the first).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends.")
@run_scope_options
def logs_command(run: str, action: str | None, attempt: int | None, follow: bool) -> None:
    """Print what RUN's tasks printed (stdout, stderr, logging), each attempt's log under a
    header naming its action and attempt; only ACTION's (e.g. a3) when given. With --follow,
    new lines are printed as they come until the run ends."""
    from flyte._home import state_root
    from flyte.errors import ActionNotFoundError
    from flyte.remote import Run
    from flyte.runtime import store as st

    if attempt is not None and action is None:
        raise click.BadParameter(
            "--attempt needs an ACTION (e.g. flyte logs RUN a3 --attempt 2)", param_hint="--attempt"
        )
    try:
        record = Run.get(run)
    except ActionNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    tasks: dict[str, str] = {}
    with st.reader() as conn:
        if action is not None:
            row = st.action_row(conn, run, action)
            if row is None:
                raise click.ClickException(
                    f"run {run} has no action {action!r}; `flyte runs show {run}` lists its actions (a0, a1, ...)"
                )
            if attempt is not None and attempt > max(row["attempts"], 1):
                raise click.ClickException(
                    f"action {action} of run {run} has {row['attempts']} attempt(s); --attempt {attempt} is not one"
                )
            tasks[action] = row["task"]
    folder = state_root() / "runs" / run / "logs"
    offsets: dict[Path, int] = {}
    last: list[Path | None] = [None]

    def task_of(ident: str) -> str:
        if ident not in tasks:
            with st.reader() as conn:
                row = st.action_row(conn, run, ident)
            tasks[ident] = row["task"] if row else "?"
        return tasks[ident]

    def show_new(final: bool = False) -> None:
        for number, n, path in _files(folder, action, attempt):
            start = offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
            if not data:
                continue
            if final or not follow or data.endswith(b"\n"):
                offsets[path] = start + len(data)
            else:  # a line still being written: print up to its last newline, the rest later
                cut = data.rfind(b"\n") + 1
                data = data[:cut]
                offsets[path] = start + cut
                if not data:
                    continue
            if last[0] != path:
                ident = st.action_id(number)
                click.secho(f"── {ident} {task_of(ident)} · attempt {n} ──", fg="cyan", err=False)
                last[0] = path
            click.echo(data.decode("utf-8", errors="replace"), nl=not data.endswith(b"\n"))

    show_new()
    while follow and not record.done:
        time.sleep(POLL)
        record = Run.get(run)
        show_new()
    if follow:
        show_new(final=True)  # what was written as it ended
    if not offsets and record.backend is not None:  # printed in the cluster's pods, not here
        _point_at_pods(record, action)
    elif not offsets:
        what = f"action {action}" + (f" attempt {attempt}" if attempt else "") if action else "its tasks"
        click.echo(f"run {run} ({record.phase}): {what} printed nothing", err=True)


def _point_at_pods(record: Any, action: str | None) -> None:
    """A cluster run's output is in its pods' logs: say how to read them."""
    objects = [obj for obj in record.cluster_objects() if action in (None, obj["action"])]
    commands = [c for obj in objects for c in obj["kubectl"] if " logs " in c or " describe " in c]
    click.echo(
        f"run {record.name} ({record.phase}) ran on {record.backend}: what its tasks print is in their pods' logs"
        + "".join(f"\n  {command}" for command in commands),
        err=True,
    )
