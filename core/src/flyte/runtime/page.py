"""The run's page on disk (``<state root>/runs/<name>/index.html``): every action, its
status, attempts, cache outcome and report."""

from __future__ import annotations

import html
import os
import tempfile
from datetime import datetime, timezone

from flyte._home import state_path


def write_run_page(name: str) -> str:
    from flyte.remote import Run

    run = Run.get(name)
    rows = []
    for action in run.actions():
        report = f'<a href="{action.id}/report.html">report</a>' if action.report else ""
        took = f"{action.duration:.3f}s" if action.duration is not None else ""
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    action.id,
                    action.parent or "",
                    action.task,
                    action.phase,
                    action.attempts,
                    action.cache or "",
                    took,
                    action.error or "",
                )
            )
            + f"<td>{report}</td></tr>"
        )
    created = datetime.fromtimestamp(run.created_at, timezone.utc).isoformat(timespec="seconds")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>run {html.escape(name)}</title></head><body>"
        f"<h1>Run {html.escape(name)}</h1><p>task {html.escape(run.task)} · {run.phase} · {created}</p>"
        + (f"<p>error: {html.escape(run.error)}</p>" if run.error else "")
        + "<table border=1 cellpadding=4><tr><th>action</th><th>parent</th><th>task</th>"
        "<th>phase</th><th>attempts</th><th>cache</th><th>took</th><th>error</th><th></th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )
    folder = state_path("runs", name)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".page-")
    with os.fdopen(fd, "w") as f:
        f.write(page)
    target = folder / "index.html"
    os.replace(tmp, target)
    return str(target)
