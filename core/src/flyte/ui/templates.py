"""The HTML of the runs list, a run and an action: one set of templates for the live UI
(``flyte ui``) and the static page written per run (``Run.url``).

Every string that came from a user (task names, errors, logs, inputs, outputs) goes through
:func:`html.escape`; reports are shown in a sandboxed iframe (scripts may run, but in an
origin of their own, with no access to this page). Links differ between the two uses: a
:class:`Links` says where things are.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from flyte.runtime import store as st
from flyte.ui.queries import Node

COLOURS = {
    st.SUCCEEDED: "#1a7f37",
    st.FAILED: "#cf222e",
    st.ABORTED: "#6e7781",
    st.RETRYING: "#bf8700",
    st.RUNNING: "#0969da",
    st.QUEUED: "#8c959f",
}

# The page on disk is one file: its style is inlined, as the UI serves it.
CSS = (Path(__file__).parent / "static" / "ui.css").read_text()


_SPECIAL = re.compile("[&<>\"']").search


def esc(value: Any) -> str:
    text = "" if value is None else str(value)
    # Most values are short names with nothing to escape: one scan, not html.escape's five
    # (a long text, a log or a traceback, is scanned faster by html.escape itself).
    if len(text) <= 200 and _SPECIAL(text) is None:
        return text
    return html.escape(text, quote=True)


def _phase(status: str | None) -> str:
    colour = COLOURS.get(status or "", "#57606a")
    return f'<span class="phase" data-phase="{esc(status)}" style="background:{colour}">{esc(status)}</span>'


_PHASES = {status: _phase(status) for status in COLOURS}  # every page shows a few of them


def phase(status: str | None) -> str:
    return _PHASES.get(status or "") or _phase(status)


def when(ts: float | None) -> str:
    # "%Y-%m-%d %H:%M:%S" in local time; not strftime, whose C call re-reads the time zone
    # (a stat of /etc/localtime) on every call: a few µs of every run's page.
    return datetime.fromtimestamp(ts).isoformat(" ", "seconds") if ts else "-"


def took(start: float | None, end: float | None) -> str:
    if start is None:
        return "-"
    seconds = (end if end is not None else time.time()) - start
    return f"{seconds:.3f}s" + ("" if end is not None else " (so far)")


class Links:
    """Where the pages link to, for the live UI (server routes)."""

    static = False

    def runs(self, **query: Any) -> str:
        return "/" + _query(query)

    def run(self, name: str, **query: Any) -> str:
        return f"/runs/{quote(name)}" + _query(query)

    def action(self, name: str, action: str) -> str:
        return f"/runs/{quote(name)}/actions/{quote(action)}"

    def log(self, name: str, action: str, attempt: int) -> str:
        return f"/runs/{quote(name)}/logs/{quote(action)}/{attempt}"

    def report(self, name: str, action: str) -> str:
        return f"/runs/{quote(name)}/actions/{quote(action)}/report"

    def manifest(self, name: str, action: str) -> str:
        return f"/runs/{quote(name)}/actions/{quote(action)}/object.yaml"


class StaticLinks(Links):
    """Links of the page on disk (``pages/<name>.html``): itself, anchors in it, and the run's
    files in its folder (``runs/<name>/``, beside ``pages``)."""

    static = True

    def run(self, name: str, **query: Any) -> str:
        return f"{quote(name)}.html"

    def action(self, name: str, action: str) -> str:
        return f"#action-{quote(action)}"

    def log(self, name: str, action: str, attempt: int) -> str:
        return f"../runs/{quote(name)}/logs/{quote(action)}-{attempt}.log"

    def report(self, name: str, action: str) -> str:
        return f"../runs/{quote(name)}/{quote(action)}/report.html"

    def manifest(self, name: str, action: str) -> str:
        return f"../runs/{quote(name)}/{quote(action)}/object.yaml"


def _query(query: dict[str, Any]) -> str:
    given = {k: v for k, v in query.items() if v not in (None, "", 0)}
    return "?" + urlencode(given) if given else ""


def document(title: str, main: str, live: bool, links: Links) -> str:
    """A whole page. ``live``: it refreshes itself (the UI by fetching its ``<main>``, the
    page on disk by reloading) until what it shows has ended."""
    return "".join(document_parts(title, main, live, links))


def document_parts(title: str, main: str, live: bool, links: Links) -> tuple[str, str, str]:
    """:func:`document` in three parts (head, main, tail), to be joined or encoded one by one."""
    if links.static:
        head = '<meta http-equiv="refresh" content="2">' if live else ""
        script = ""
    else:
        head = ""
        script = '<script src="/ui.js"></script>'
    data = " data-live" if live else ""
    home = "<b>flyte</b>" if links.static else f'<a href="{esc(links.runs())}">flyte</a>'
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>{head}'
        f"<style>{CSS}</style></head><body>"
        f'<header>{home} <span class="muted">local runs</span></header>'
        f"<main{data}>",
        main,
        f"</main>{script}</body></html>\n",
    )


# -- the runs list ---------------------------------------------------------------------------


def runs_list(
    runs: list[dict[str, Any]], total: int, tasks: list[str], where: Any, since: str, until: str, links: Links
) -> str:
    options = "".join(
        f'<option value="{esc(p)}"{" selected" if p == where.status else ""}>{esc(p)}</option>' for p in st.SEVERITY
    )
    task_options = "".join(
        f'<option value="{esc(t)}"{" selected" if t == where.task else ""}>{esc(t)}</option>' for t in tasks
    )
    form = (
        '<form class="filters" method="get" action="/">'
        f'<label>phase <select name="status"><option value="">any</option>{options}</select></label>'
        f'<label>task <select name="task"><option value="">any</option>{task_options}</select></label>'
        f'<label>from <input type="date" name="since" value="{esc(since)}"></label>'
        f'<label>to <input type="date" name="until" value="{esc(until)}"></label>'
        '<button type="submit">filter</button></form>'
    )
    rows = "".join(
        f'<tr class="run" data-run="{esc(r["name"])}">'
        f'<td><a href="{esc(links.run(r["name"]))}">{esc(r["name"])}</a></td>'
        f"<td>{esc(r['task'])}{_on(r.get('backend'))}</td><td>{phase(r['status'])}</td><td>{when(r['created_at'])}</td>"
        f"<td>{took(r['created_at'], r['ended_at'] if r['status'] in st.TERMINAL else None)}</td>"
        f"<td>{esc((r['error'] or '')[:120])}</td></tr>"
        for r in runs
    )
    shown = f"{where.offset + 1:,}-{where.offset + len(runs):,} of {total:,}" if runs else f"0 of {total:,}"
    pager = _pager(
        where.offset,
        len(runs),
        total,
        where.limit,
        lambda o: links.runs(status=where.status, task=where.task, since=since, until=until, offset=o),
    )
    table = (
        "<table id='runs'><tr><th>run</th><th>task</th><th>phase</th><th>started</th><th>took</th><th>error</th></tr>"
        f"{rows}</table>"
        if runs
        else "<p>no runs match</p>"
    )
    return f"<h1>Runs</h1>{form}<p class='muted'>{shown} runs, newest first</p>{table}{pager}"


def _on(backend: str | None) -> str:
    """Where a run ran, when not on this machine (a cluster run)."""
    return f' <span class="muted backend">on {esc(backend)}</span>' if backend else ""


def _pager(offset: int, shown: int, total: int, limit: int, link: Any) -> str:
    parts = []
    if offset > 0:
        parts.append(f'<a href="{esc(link(max(0, offset - limit)))}">previous</a>')
    if offset + shown < total:
        parts.append(f'<a href="{esc(link(offset + limit))}" rel="next">next</a>')
    return f"<p class='pager'>{' · '.join(parts)}</p>" if parts else ""


# -- one run ---------------------------------------------------------------------------------


def run_view(
    run: dict[str, Any],
    counts: dict[str, int],
    tree: list[Node],
    tree_cut: bool,
    actions: list[Any],
    page: dict[str, Any],
    details: dict[str, str],
    links: Links,
    objects: Sequence[Any] = (),
) -> str:
    """A run: header, counts by phase, the action tree with a timeline, one page of actions
    (failed first), the Kubernetes objects of a cluster run and, on the page on disk, the
    details of the actions that failed."""
    name = run["name"]
    end = run["ended_at"] if run["status"] in st.TERMINAL else None
    total = sum(counts.values())
    head = (
        f'<h1>Run <span id="run-name">{esc(name)}</span> {phase(run["status"])}</h1>'
        f"<p>task <b>{esc(run['task'])}</b> · started {when(run['created_at'])} · took "
        f"<span id='run-took'>{took(run['created_at'], end)}</span>"
        + (f" · started by {esc(run.get('trigger'))}" if run.get("trigger") else "")
        + (f" · ran on <b class='backend'>{esc(run['backend'])}</b>" if run.get("backend") else "")
        + "</p>"
        + (f'<pre class="tb" id="run-error">{esc(run["error"])}</pre>' if run.get("error") else "")
    )
    chips = " ".join(
        f'<a href="{esc(links.run(name, status=p))}">{phase(p)} {counts[p]:,}</a>'
        if not links.static
        else f"{phase(p)} {counts[p]:,}"
        for p in st.by_severity(counts)
    )
    span_end = end if end is not None else time.time()
    tree_html = _tree(tree, name, run["created_at"], span_end, links) if tree else "<p>no actions yet</p>"
    if tree_cut:
        tree_html += f"<p class='muted'>the tree shows its first {sum(1 for _ in _walk(tree))} nodes</p>"
    table = _action_table(name, actions, links, set(details))
    where = page.get("description", "")
    pager = "" if links.static else _pager(page["offset"], len(actions), page["matching"], page["limit"], page["link"])
    return (
        head
        + f"<p class='chips' id='counts'>actions: {total:,} {chips}</p>"
        + (_cluster_objects(name, objects, links) if objects else "")
        + f"<h2>Actions and timeline</h2><div id='tree'>{tree_html}</div>"
        + f"<h2>Actions {esc(where)}</h2>{table}{pager}"
        + "".join(details.values())
    )


def _cluster_objects(name: str, objects: Sequence[Any], links: Links, heading: str = "h2") -> str:
    """Where a cluster run's objects are: kind, name, namespace and context, the YAML kept of
    each, and the ``kubectl`` commands that inspect them."""
    from flyte.kube.record import kubectl_commands

    parts = [f"<{heading}>Kubernetes objects</{heading}>"]
    for obj in objects:
        action = esc(obj["action"])
        if not links.static:
            action = f'<a href="{esc(links.action(name, obj["action"]))}">{action}</a>'
        commands = "\n".join(kubectl_commands(obj))
        parts.append(
            f'<div class="k8s-object" data-action="{esc(obj["action"])}"><p>{action} · '
            f'<b class="k8s-kind">{esc(obj["kind"])}</b> <b class="k8s-name">{esc(obj["name"])}</b> in namespace '
            f'<b class="k8s-namespace">{esc(obj["namespace"])}</b>'
            + (f" · context <b class='k8s-context'>{esc(obj['context'])}</b>" if obj["context"] else "")
            + f" · <code>{esc(obj['api_version'])}</code> · "
            f'<a class="k8s-yaml" href="{esc(links.manifest(name, obj["action"]))}">'
            "the object as submitted (YAML)</a></p>"
            f'<pre class="kubectl">{esc(commands)}</pre></div>'
        )
    return "".join(parts)


def _walk(nodes: list[Node]) -> Any:
    for node in nodes:
        yield node
        yield from _walk(node.children)


def _tree(nodes: list[Node], name: str, start: float, end: float, links: Links) -> str:
    """The tree as one table (indented labels, aligned timeline bars)."""
    rows: list[str] = []
    _tree_rows(nodes, 0, name, start, end, links, rows)
    return f"<table class='tree'><tr><th>action</th><th>timeline</th><th>took</th></tr>{''.join(rows)}</table>"


def _tree_rows(
    nodes: list[Node], depth: int, name: str, start: float, end: float, links: Links, rows: list[str]
) -> None:
    span = max(end - start, 1e-6)
    for node in nodes:
        left = max(0.0, ((node.started_at or end) - start) / span * 100)
        right = ((node.ended_at if node.ended_at is not None else end) - start) / span * 100
        width = max(0.0, min(100.0, right) - left)
        colour = COLOURS.get(node.status, "#57606a")
        bar = f'<div class="bar"><span style="left:{left:.2f}%;width:{width:.2f}%;background:{colour}"></span></div>'
        group = f' <span class="muted">group {esc(node.group)}</span>' if node.group else ""
        if node.count == 1:
            ident = esc(node.first)
            if not links.static:
                ident = f'<a href="{esc(links.action(name, node.first))}">{ident}</a>'
            label = f"{ident} {esc(node.task)}"
        else:
            counts = ", ".join(f"{p.lower()} {node.counts[p]:,}" for p in st.by_severity(node.counts))
            more = (
                f' <a href="{esc(links.run(name, parent=node.parent))}">list them</a>'
                if not links.static and node.parent
                else ""
            )
            label = f"{esc(node.task)} × {node.count:,} <span class='muted'>({counts})</span>{more}"
        rows.append(
            f'<tr class="node" data-status="{esc(node.status)}">'
            f'<td style="padding-left:{6 + 18 * depth}px">{phase(node.status)} {label}{group}</td>'
            f'<td class="timeline">{bar}</td><td>{took(node.started_at, node.ended_at)}</td></tr>'
        )
        _tree_rows(node.children, depth + 1, name, start, end, links, rows)


def _action_table(name: str, actions: list[Any], links: Links, detailed: set[str]) -> str:
    """One page of actions; on the page on disk, only actions shown in full below link."""
    if not actions:
        return "<p>no actions to show</p>"
    rows = []
    for a in actions:
        if not links.static or a.id in detailed:
            ident = f'<a href="{esc(links.action(name, a.id))}">{esc(a.id)}</a>'
        else:  # (no link: its quoting was most of an action's row on a small run's page)
            ident = esc(a.id)
        report = f'<a href="{esc(links.report(name, a.id))}">report</a>' if a.report else ""
        rows.append(
            f'<tr class="action" data-action="{esc(a.id)}" data-phase="{esc(a.phase)}"><td>{ident}</td>'
            f"<td>{esc(a.parent or '-')}</td><td>{esc(a.task)}</td><td>{phase(a.phase)}</td><td>{a.attempts}</td>"
            f"<td>{esc(a.cache or '-')}</td><td>{took(a.started_at, a.ended_at)}</td>"
            f"<td>{esc((a.error or '')[:200])}</td><td>{report}</td></tr>"
        )
    return (
        "<table id='actions'><tr><th>action</th><th>parent</th><th>task</th><th>phase</th><th>attempts</th>"
        f"<th>cache</th><th>took</th><th>error</th><th></th></tr>{''.join(rows)}</table>"
    )


# -- one action ------------------------------------------------------------------------------


def action_view(
    run: dict[str, Any],
    action: dict[str, Any],
    logs: dict[int, tuple[str, bool]],
    links: Links,
    heading: str = "h1",
    objects: Sequence[Any] = (),
) -> str:
    """An action: its phase, timing, cache, group, inputs and outputs, and every attempt with
    its error, traceback and log."""
    name, ident = run["name"], action["id"]
    facts = [
        ("task", esc(action["task"])),
        ("phase", phase(action["status"])),
        ("parent", esc(action.get("parent") or "-")),
        ("group", esc(action.get("grp") or "-")),
        ("attempts", esc(action["attempts"])),
        ("took (all attempts and backoffs)", took(action.get("started_at"), action.get("ended_at"))),
        ("queued at", when(action.get("queued_at"))),
        (
            "cache",
            esc(action.get("cache") or "-")
            + (f" · key <code>{esc(action['cache_key'])}</code>" if action.get("cache_key") else ""),
        ),
        ("children", f"{action.get('children', 0):,}"),
    ]
    if action.get("children") and not links.static:
        facts[-1] = ("children", f'<a href="{esc(links.run(name, parent=ident))}">{action["children"]:,}</a>')
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    parts = [
        f'<{heading} id="action-{esc(ident)}">Action {esc(ident)} of run '
        f'<a href="{esc(links.run(name))}">{esc(name)}</a></{heading}>',
        f"<table class='facts' style='width:auto'>{table}</table>",
    ]
    if objects:
        parts.append(_cluster_objects(name, objects, links))
    if action.get("error"):
        parts.append(f'<h2>Error</h2><pre class="tb action-error">{esc(action["error"])}</pre>')
    for record in reversed(action.get("attempt_records", [])):
        parts.append(_attempt(name, ident, record, logs.get(record["attempt"], ("", False)), links))
    if action["status"] in (st.RUNNING, st.RETRYING) and not any(
        r["attempt"] == action["attempts"] for r in action.get("attempt_records", [])
    ):
        text, cut = logs.get(action["attempts"], ("", False))
        parts.append(
            f"<h2>Attempt {action['attempts']} (running)</h2>"
            + _log_block(name, ident, action["attempts"], text, cut, links)
        )
    parts.append(f"<h2>Inputs</h2><pre class='inputs'>{esc(action.get('inputs') or '-')}</pre>")
    parts.append(f"<h2>Outputs</h2><pre class='outputs'>{esc(action.get('outputs') or '-')}</pre>")
    if action.get("report"):
        parts.append(
            f'<h2>Report</h2><iframe class="report" sandbox="allow-scripts" '
            f'src="{esc(links.report(name, ident))}" title="report"></iframe>'
        )
    return "".join(parts)


def _attempt(name: str, ident: str, record: dict[str, Any], log: tuple[str, bool], links: Links) -> str:
    n = record["attempt"]
    head = (
        f'<h2 class="attempt" data-attempt="{n}">Attempt {n} {phase(record["outcome"])} '
        f"<span class='muted'>{when(record['started_at'])} · {took(record['started_at'], record['ended_at'])} · "
        f"{esc(record.get('worker') or '')}</span></h2>"
    )
    error = f'<pre class="tb traceback">{esc(record["traceback"])}</pre>' if record.get("traceback") else ""
    text, cut = log
    return head + error + _log_block(name, ident, n, text, cut, links)


def _log_block(name: str, ident: str, attempt: int, text: str, cut: bool, links: Links) -> str:
    if not text:
        return "<p class='muted'>no output</p>"
    note = f' <a href="{esc(links.log(name, ident, attempt))}">the whole log</a>'
    return (
        f"<p class='muted'>log{' (its end)' if cut else ''}:{note}</p>"
        f'<pre class="log" data-attempt="{attempt}">{esc(text)}</pre>'
    )
