"""What the UI and the run page show, read from the run store a page at a time.

Every query is bounded: a run of 100,000 actions is shown as counts, a collapsed tree (siblings
of one task under one parent become one node with counts) and one page of its actions.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from flyte.remote import _action
from flyte.runtime import attempts as att
from flyte.runtime import store as st

RUNS_PAGE = 50
ACTIONS_PAGE = 100
MAX_TREE_NODES = 200
LOG_TAIL_CHARS = 64 * 1024


@attrs.frozen
class RunFilter:
    """The runs list's filters: a phase, a task, and a creation-date range (epoch seconds)."""

    status: str | None = None
    task: str | None = None
    since: float | None = None
    until: float | None = None
    offset: int = 0
    limit: int = RUNS_PAGE


def list_runs(conn: sqlite3.Connection, where: RunFilter) -> tuple[list[dict[str, Any]], int]:
    """One page of runs, newest first, and how many match."""
    from flyte.remote import _run

    rows, total = st.run_page(
        conn,
        where.limit,
        where.offset,
        status=where.status,
        task=where.task,
        since=where.since,
        until=where.until,
    )
    runs = []
    for row in rows:
        data = dict(row)
        if row["status"] not in st.TERMINAL:  # a run whose process died is ABORTED
            run = _run(conn, row)
            data.update(status=run.phase, ended_at=run.ended_at)
        runs.append(data)
    return runs, total


def run_tasks(conn: sqlite3.Connection) -> list[str]:
    """Every task a recorded run started from (for the filter)."""
    return st.run_tasks(conn)


def run_row(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    from flyte.remote import _run

    row = st.run_row(conn, name)
    if row is None:
        return None
    data = dict(row)
    if row["status"] not in st.TERMINAL:
        run = _run(conn, row)
        data.update(status=run.phase, ended_at=run.ended_at, error=run.error)
    return data


def phase_counts(conn: sqlite3.Connection, name: str) -> dict[str, int]:
    return st.action_counts(conn, name)


@attrs.define
class Node:
    """One node of the action tree: an action, or siblings of one task collapsed with counts."""

    parent: str | None
    task: str
    group: str | None
    first: str  # the (first) action's id
    count: int
    counts: dict[str, int]
    started_at: float | None
    ended_at: float | None
    children: list[Node] = attrs.Factory(list)

    @property
    def status(self) -> str:
        if len(self.counts) == 1:  # most nodes: every action in one phase
            return next(iter(self.counts))
        return st.by_severity(self.counts)[0] if self.counts else st.QUEUED


def action_tree(conn: sqlite3.Connection, name: str) -> tuple[list[Node], bool]:
    """The run's actions as a tree of at most ``MAX_TREE_NODES`` nodes (and whether it was cut):
    a single action's children are expanded, a collapsed group's are not (open the group)."""
    return _tree(lambda parent: st.child_groups(conn, name, parent))


def _tree(groups: Callable[[str | None], Iterable[Any]]) -> tuple[list[Node], bool]:
    """The tree of :func:`action_tree` from ``groups(parent)``: the rows of
    :func:`flyte.runtime.store.child_groups`, or rows with the same keys."""
    budget = [MAX_TREE_NODES]
    cut = [False]

    def children(parent: str | None) -> list[Node]:
        nodes: dict[tuple[str | None, str], Node] = {}
        first: dict[tuple[str | None, str], int] = {}  # the number of each node's first action
        for row in groups(parent):
            key = (row["grp"], row["task"])
            node = nodes.get(key)
            if node is None:
                ident = st.action_id(row["first"])
                node = nodes[key] = Node(parent, row["task"], row["grp"], ident, 0, {}, row["s"], row["e"])
                first[key] = row["first"]
            node.count += row["n"]
            node.counts[row["status"]] = row["n"]
            if row["first"] < first[key]:
                node.first, first[key] = st.action_id(row["first"]), row["first"]
            node.started_at = _least(node.started_at, row["s"])
            node.ended_at = row["e"] if node.ended_at is None else max(node.ended_at, row["e"] or 0)
        for node in nodes.values():
            if set(node.counts) - st.TERMINAL:  # still going: its bar runs to now
                node.ended_at = None
        ordered = [nodes[key] for key in sorted(nodes, key=first.__getitem__)]
        kept = []
        for node in ordered:
            if budget[0] <= 0:
                cut[0] = True
                break
            budget[0] -= 1
            kept.append(node)
            if node.count == 1:
                node.children = children(node.first)
        return kept

    return children(None), cut[0]


def small_run(
    conn: sqlite3.Connection, run: Any, limit: int = ACTIONS_PAGE
) -> tuple[dict[str, int], list[Node], bool, list[Any]] | None:
    """A run's counts by phase, action tree and first page of actions (failed first), as
    :func:`phase_counts`, :func:`action_tree` and :func:`action_page` give them, from one read
    of its actions, for a run of at most ``limit`` actions (``run``: a
    :class:`flyte.remote.Run`); None for a larger run. Most runs are small: their page costs
    one query instead of one per phase and per tree node."""
    # A larger run is told apart first from an index alone: its rows in creation order would
    # be all of them sorted (0.57 ms for 2,000 actions, against 6 µs for the look).
    if st.has_more_actions(conn, run.name, limit):
        return None
    return small_run_of(st.action_rows(conn, run.name, None, limit, 0).fetchall(), run)


def small_run_of(rows: Sequence[Any], run: Any) -> tuple[dict[str, int], list[Node], bool, list[Any]]:
    """:func:`small_run` of a run whose action rows (all of them, in creation order) are
    ``rows``: read from the store, or as the commit that wrote them left them
    (:mod:`flyte.runtime.written`)."""
    counts: dict[str, int] = {}
    # parent -> (group, task, phase) -> a row as child_groups gives it (SQL's MIN and MAX skip NULLs)
    families: dict[str | None, dict[tuple[Any, str, str], dict[str, Any]]] = {}
    for row in rows:
        status = row["status"]
        counts[status] = counts.get(status, 0) + 1
        key = (row["grp"], row["task"], status)
        family = families.setdefault(row["parent"], {})
        group = family.get(key)
        if group is None:
            family[key] = {
                "grp": row["grp"],
                "task": row["task"],
                "status": status,
                "n": 1,
                "first": row[st.CREATION_ORDER],
                "s": row["started_at"],
                "e": row["ended_at"],
            }
        else:
            group["n"] += 1
            group["first"] = _least(group["first"], row[st.CREATION_ORDER])
            group["s"] = _least(group["s"], row["started_at"])
            group["e"] = _most(group["e"], row["ended_at"])
    tree, cut = _tree(lambda parent: families.get(parent, {}).values())
    rank = {phase: i for i, phase in enumerate(st.by_severity(counts))}
    page = sorted(rows, key=lambda row: rank[row["status"]])  # stable: creation order within a phase
    return counts, tree, cut, [_action(row, run.phase) for row in page]


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _most(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def action_page(
    run: Any, phases: list[str] | None, offset: int, limit: int = ACTIONS_PAGE, parent: str | None = None
) -> list[Any]:
    """One page of a run's actions (``run``: a :class:`flyte.remote.Run`), failed first; given
    ``parent``, that action's children in creation order."""

    if parent is None:
        return list(run.iter_actions(phases, failed_first=True, offset=offset, limit=limit))
    with st.reader() as conn:
        return [_action(row, run.phase) for row in st.child_rows(conn, run.name, parent, limit, offset)]


def action_detail(conn: sqlite3.Connection, run: str, action: str) -> dict[str, Any] | None:
    """Everything recorded about one action: its row, its attempts (with tracebacks and log
    paths), its parent's task and how many children it has."""
    row = st.action_row(conn, run, action)
    if row is None:
        return None
    data = dict(row)
    data["attempt_records"] = att.attempts_of(conn, run, action)
    data["children"] = st.children_count(conn, run, action)
    report = data.get("report")
    data["report"] = report if report and Path(report).exists() else None
    now = time.time()
    started, ended = data.get("started_at"), data.get("ended_at")
    data["duration"] = (ended or now) - started if started else None
    return data


def read_log(path: str | None, tail: int = LOG_TAIL_CHARS) -> tuple[str, bool]:
    """The last ``tail`` characters of a log file (and whether earlier ones were left out)."""
    if not path:
        return "", False
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - tail)
            f.seek(start)
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "", False
    return text, start > 0


def children_count(run: str, parent: str) -> int:
    with st.reader() as conn:
        return st.children_count(conn, run, parent)
