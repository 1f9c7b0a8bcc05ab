"""``flyte runs show NAME ACTION``: one action in full, as text or JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

FULL_MARK = "\nFull traceback:\n"  # flyte.runtime.attempts.format_traceback's separator


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ts else "-"


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 6)


def failure_hint(name: str) -> str:
    """Where to look after run ``name`` failed: the traceback and logs of the action where its
    error was raised (:func:`~flyte.runtime.store.failure_origin`), and the whole run."""
    from flyte.runtime import store as st

    with st.reader() as conn:
        ident = st.failure_origin(conn, name)
    if ident is None:
        return f"run {name}: flyte runs show {name}"
    return (
        f"run {name}: traceback: flyte runs show {name} {ident} · logs: flyte logs {name} {ident} · "
        f"all actions: flyte runs show {name}"
    )


def action_record(run: Any, ident: str) -> dict[str, Any]:
    """Everything recorded about action ``ident`` of ``run``, as JSON-able data."""
    from flyte.kube.record import object_record
    from flyte.runtime import store as st
    from flyte.runtime.logs import recorded_log
    from flyte.ui import queries

    with st.reader() as conn:
        row = queries.action_detail(conn, run.name, ident)
        objects = [object_record(o) for o in st.cluster_objects(conn, run.name, ident)]
    if row is None:
        raise click.ClickException(
            f"run {run.name} has no action {ident!r}; `flyte runs show {run.name}` lists its actions (a0, a1, ...)"
        )
    attempts = [
        {
            "attempt": a["attempt"],
            "outcome": a["outcome"],
            "started_at": a["started_at"],
            "ended_at": a["ended_at"],
            "duration": _seconds(a["started_at"], a["ended_at"]),
            "worker": a["worker"],
            "error_type": a["error_type"],
            "message": a["message"],
            "traceback": a["traceback"],
            "log": a["log_path"],
        }
        for a in row["attempt_records"]
    ]
    if row["status"] not in st.TERMINAL and row["attempts"] and len(attempts) < row["attempts"]:
        running = recorded_log(run.name, ident, row["attempts"])
        attempts.append(
            {"attempt": row["attempts"], "outcome": row["status"], "log": str(running) if running.exists() else None}
        )
    return {
        "run": run.name,
        "id": ident,
        "task": row["task"],
        "phase": row["status"],
        "parent": row["parent"],
        "group": row["grp"],
        "children": row["children"],
        "attempts": row["attempts"],
        "queued_at": row["queued_at"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "duration": _seconds(row["started_at"], row["ended_at"]),
        "cache": row["cache"],
        "cache_key": row.get("cache_key"),
        "error": row["error"],
        "inputs": row["inputs"],
        "outputs": row["outputs"],
        "report": row["report"],
        "attempt_records": attempts,
        "cluster_objects": objects,  # the Kubernetes object it submitted (a cluster run)
    }


def show_action(run: Any, ident: str, output: str) -> None:
    record = action_record(run, ident)
    if output == "json":
        click.echo(json.dumps(record, indent=2))
        return
    took = f"{record['duration']:.3f}s" if record["duration"] is not None else "-"
    click.echo(
        f"action {ident} of run {run.name} · {record['task']} · {record['phase']} · "
        f"{record['attempts']} attempt(s) · took {took} (all attempts and backoffs)"
    )
    cache = record["cache"] or "-"
    if record["cache_key"]:
        cache += f" (key {record['cache_key']})"
    click.echo(
        f"parent: {record['parent'] or '-'} · group: {record['group'] or '-'} · children: {record['children']:,}"
    )
    click.echo(
        f"queued: {_when(record['queued_at'])} · started: {_when(record['started_at'])} · ended: "
        f"{_when(record['ended_at'])} · cache: {cache}"
    )
    click.echo(f"inputs: {record['inputs'] or '-'}")
    click.echo(f"outputs: {record['outputs'] or '-'}")
    if record["report"]:
        click.echo(f"report: {record['report']}")
    from flyte.cli.runs import show_cluster_objects

    show_cluster_objects(record["cluster_objects"])
    records = record["attempt_records"]
    for attempt in records:
        seconds = attempt.get("duration")
        when = f" · {_when(attempt.get('started_at'))} · took {seconds:.3f}s" if seconds is not None else ""
        worker = f" · {attempt['worker']}" if attempt.get("worker") else ""
        click.secho(f"attempt {attempt['attempt']}: {attempt['outcome']}{when}{worker}", bold=True)
        click.echo(f"  log: {attempt['log'] or '(printed nothing)'}")
        trace = attempt.get("traceback")
        if trace:
            if attempt is not records[-1]:  # earlier attempts: the user's frames; the last in full
                trace = trace.split(FULL_MARK, 1)[0]
            click.secho("  " + trace.rstrip().replace("\n", "\n  "), fg="red")
    if record["error"]:
        click.secho(f"error: {record['error']}", fg="red")
    if any(a["log"] for a in record["attempt_records"]):
        click.echo(f"logs: flyte logs {run.name} {ident}")
