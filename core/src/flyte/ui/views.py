"""Pages as HTML: read what they show (:mod:`.queries`), fill the templates (:mod:`.templates`).

Each view returns the inside of ``<main>`` and whether what it shows is still going (the page
then refreshes itself); :func:`flyte.ui.templates.document` wraps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flyte.remote import Run
from flyte.runtime import store as st
from flyte.runtime.written import WrittenRun
from flyte.ui import queries as q
from flyte.ui import templates as t


class NotFound(LookupError):
    """A run or action the store does not have (the server answers 404)."""


def _day(value: str, name: str) -> float | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").timestamp()
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD, e.g. 2026-01-31)") from None


def _int(value: str, name: str) -> int:
    if not value:
        return 0
    if not value.isdigit():
        raise ValueError(f"{name}: {value!r} is not a whole number of at least 0")
    return int(value)


def _phase(value: str, name: str) -> str | None:
    if not value:
        return None
    phase = value.upper()
    if phase not in st.SEVERITY:
        raise ValueError(f"{name}: {value!r} is not a phase (accepted: {', '.join(st.SEVERITY)})")
    return phase


def runs_view(query: dict[str, str], links: t.Links) -> tuple[str, bool]:
    since, until = query.get("since", ""), query.get("until", "")
    where = q.RunFilter(
        status=_phase(query.get("status", ""), "status"),
        task=query.get("task") or None,
        since=_day(since, "since"),
        until=None if not until else _day(until, "until") + 86400,  # type: ignore[operator]
        offset=_int(query.get("offset", ""), "offset"),
    )
    with st.reader() as conn:
        runs, total = q.list_runs(conn, where)
        tasks = q.run_tasks(conn)
    live = any(r["status"] not in st.TERMINAL for r in runs)
    return t.runs_list(runs, total, tasks, where, since, until, links), live


def run_view(
    name: str,
    query: dict[str, str],
    links: t.Links,
    details: int = 0,
    store: st.RunStore | None = None,
    written: WrittenRun | None = None,
) -> tuple[str, bool]:
    """A run's page; ``details``: how many failed actions to show in full below (the page on
    disk has no action pages to link to). ``store``: the run store's writer, whose own
    connection reads the run and, for a small run, its actions: the writer's commits leave
    its page cache valid, where a reader's must be read again after each one. ``written``:
    the ended run's rows as the commit that wrote them all left them (its final page, when
    :meth:`~flyte.runtime.store.RunStore.flush` returned them): nothing is read back."""
    status = _phase(query.get("status", ""), "status")
    offset = _int(query.get("offset", ""), "offset")
    parent = query.get("parent") or None
    first_page = status is None and offset == 0 and parent is None
    if (
        written is not None
        and first_page
        and written.run["status"] in st.TERMINAL
        and len(written.actions) <= q.ACTIONS_PAGE
    ):
        run = written.run
        record = Run(name=name, task=run["task"], phase=run["status"], created_at=run["created_at"])
        return _run_page(name, run, record, q.small_run_of(written.actions, record), (), links, details, None, 0, None)

    def first_read(conn: Any) -> tuple[Any, Any, Any]:
        run = q.run_row(conn, name)
        if run is None:
            return None, None, ()
        record = Run(name=name, task=run["task"], phase=run["status"], created_at=run["created_at"])
        # The first page of a small run (most runs): everything from one read of its actions.
        small = q.small_run(conn, record) if first_page else None
        # Only a run on a cluster submits objects (flyte.kube.record names its backend).
        return (run, record), small, (st.cluster_objects(conn, name) if run.get("backend") else ())

    if store is not None:
        found, small, objects = store.read(first_read)
    else:
        with st.reader() as conn:
            found, small, objects = first_read(conn)
    if found is None:
        raise NotFound(f"no run named {name!r}")
    run, record = found
    return _run_page(name, run, record, small, objects, links, details, status, offset, parent)


def _run_page(
    name: str,
    run: dict[str, Any],
    record: Any,
    small: Any,
    objects: Any,
    links: t.Links,
    details: int,
    status: str | None,
    offset: int,
    parent: str | None,
) -> tuple[str, bool]:
    """:func:`run_view` once the run's row is read (``small``: :func:`queries.small_run`'s
    summary of its actions, or None to read them a page at a time)."""
    if small is None:
        with st.reader() as conn:
            counts = q.phase_counts(conn, name)
            tree, cut = q.action_tree(conn, name)
        actions = q.action_page(record, [status] if status else None, offset, parent=parent)
    else:
        counts, tree, cut, actions = small
    if parent is not None:
        matching = q.children_count(name, parent)
        description = f"called by {parent}"
    else:
        matching = sum(n for p, n in counts.items() if status is None or p == status)
        description = f"in phase {status}" if status else "(failed first)"
    page = {
        "offset": offset,
        "limit": q.ACTIONS_PAGE,
        "matching": matching,
        "description": description,
        "link": lambda o: links.run(name, status=status, parent=parent, offset=o),
    }
    shown: dict[str, str] = {}
    for ident in [a.id for a in actions if a.phase == st.FAILED][:details]:
        shown[ident] = action_view(name, ident, links, heading="h2")[0]
    live = run["status"] not in st.TERMINAL
    return t.run_view(run, counts, tree, cut, actions, page, shown, links, objects), live


def action_view(name: str, ident: str, links: t.Links, heading: str = "h1") -> tuple[str, bool]:
    with st.reader() as conn:
        run = q.run_row(conn, name)
        if run is None:
            raise NotFound(f"no run named {name!r}")
        action = q.action_detail(conn, name, ident)
        objects = st.cluster_objects(conn, name, ident)
    if action is None:
        raise NotFound(f"run {name} has no action {ident!r}")
    logs: dict[int, Any] = {}
    for record in action["attempt_records"]:
        logs[record["attempt"]] = q.read_log(record.get("log_path"))
    if action["status"] not in st.TERMINAL and action["attempts"]:
        from flyte.runtime.logs import recorded_log

        current = recorded_log(name, ident, action["attempts"])
        logs.setdefault(action["attempts"], q.read_log(str(current)))
    live = action["status"] not in st.TERMINAL and run["status"] not in st.TERMINAL
    return t.action_view(run, action, logs, links, heading, objects), live
