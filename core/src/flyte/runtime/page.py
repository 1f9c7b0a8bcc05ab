"""The run's page on disk (``<state root>/runs/<name>/index.html``): every action, its
status, attempts, cache outcome and report."""

from __future__ import annotations

import html
import os
import tempfile
from datetime import UTC, datetime
from typing import Any

from flyte._home import state_path

# A run of many thousand actions gets a page that still opens: the first actions, every
# failed one and every one with a report, and counts for the rest (`flyte runs show` has all).
MAX_ROWS = 500


def write_run_page(name: str, store: Any) -> str:
    """Write the page of run ``name`` from ``store`` (a flushed :class:`~flyte.runtime.store.RunStore`)."""
    from flyte.runtime import store as st

    def read(conn: Any) -> tuple[Any, dict[str, int], list[Any], list[Any]]:
        return (st.run_row(conn, name), st.action_counts(conn, name), *st.page_rows(conn, name, MAX_ROWS))

    run, counts, shown, notable = store.read(read)
    seen = {row["id"] for row in shown}
    rows = [_row(r) for r in shown] + [_row(r) for r in notable if r["id"] not in seen]
    total = sum(counts.values())
    summary = " · ".join(f"{status.lower()}: {n}" for status, n in sorted(counts.items()))
    more = (
        f"<p>{total} actions ({summary}); the table shows {len(rows)} of them (the first {MAX_ROWS}, "
        f"failed ones and ones with reports); <code>flyte runs show {html.escape(name)}</code> lists all.</p>"
        if total > len(rows)
        else f"<p>{total} actions ({summary})</p>"
    )
    created = datetime.fromtimestamp(run["created_at"], UTC).isoformat(timespec="seconds")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>run {html.escape(name)}</title></head><body>"
        f"<h1>Run {html.escape(name)}</h1><p>task {html.escape(run['task'])} · {run['status']} · {created}</p>"
        + (f"<p>error: {html.escape(run['error'])}</p>" if run["error"] else "")
        + more
        + "<table border=1 cellpadding=4><tr><th>action</th><th>parent</th><th>task</th>"
        "<th>phase</th><th>attempts</th><th>cache</th><th>took</th><th>worker</th><th>error</th><th></th></tr>"
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


def _row(row: Any) -> str:
    from pathlib import Path

    has_report = row["report"] and Path(row["report"]).exists()
    report = f'<a href="{row["id"]}/report.html">report</a>' if has_report else ""
    took = f"{row['ended_at'] - row['started_at']:.3f}s" if row["started_at"] and row["ended_at"] else ""
    cells = (
        row["id"],
        row["parent"] or "",
        row["task"],
        row["status"],
        row["attempts"],
        row["cache"] or "",
        took,
        row["worker"] or "",
        row["error"] or "",
    )
    return "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in cells) + f"<td>{report}</td></tr>"
