"""A small run's page is read in one query of its actions (flyte.ui.queries.small_run): for
every shape of run it is the very page the general queries (counts by phase, the tree node by
node, a page of actions per phase) give, in the UI and on disk; a run of more actions than a
page shows takes the general path."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

import flyte
from flyte.remote import Run
from flyte.runtime import store as st
from flyte.ui import queries, templates, views

env = flyte.TaskEnvironment(name="runpage")


@env.task
async def leaf(i: int) -> int:
    if i % 7 == 3:
        raise ValueError(f"leaf {i} fails")
    return i


@env.task
async def wide(n: int) -> int:
    return sum(
        x for x in await asyncio.gather(*(leaf(i) for i in range(n)), return_exceptions=True) if isinstance(x, int)
    )


@env.task
async def middle(n: int) -> int:
    return sum(await asyncio.gather(*(leaf(i) for i in range(n))))


@env.task
async def fan_out(n: int) -> int:
    with flyte.group("evens"):
        evens = await asyncio.gather(*(leaf(i) for i in range(0, n, 2)), return_exceptions=True)
    odds = await asyncio.gather(*(leaf(i) for i in range(1, n, 2)), return_exceptions=True)
    with contextlib.suppress(ValueError):
        await middle(5)  # a child with children, one of which fails
    return sum(x for x in [*evens, *odds] if isinstance(x, int))


@env.task(retries=2)
async def always_fails() -> None:
    raise RuntimeError("every attempt fails")


@env.task
async def trivial() -> int:
    return 1


def _pages(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The run's page for the UI and on disk, from the small-run read and from the general one."""
    kinds = (templates.Links(), templates.StaticLinks())
    small = [views.run_view(name, {}, links, details=20)[0] for links in kinds]
    with monkeypatch.context() as m:
        m.setattr(queries, "small_run", lambda conn, run, limit=queries.ACTIONS_PAGE: None)
        general = [views.run_view(name, {}, links, details=20)[0] for links in kinds]
    return small, general


@pytest.mark.parametrize(
    ("task", "args", "fails"),
    [(trivial, (), False), (always_fails, (), True), (fan_out, (40,), False)],
    ids=["one action", "a failed action with retries", "groups, nesting and failed children"],
)
def test_a_small_runs_page_from_one_read_is_the_general_queries_page(monkeypatch, task, args, fails):
    flyte.init()
    if fails:
        with pytest.raises(RuntimeError):
            flyte.with_runcontext(name="rsmall").run(task, *args)
    else:
        flyte.with_runcontext(name="rsmall").run(task, *args)
    run = Run.get("rsmall")
    with st.reader() as conn:
        assert queries.small_run(conn, run) is not None  # the fast path is the one compared
    small, general = _pages("rsmall", monkeypatch)
    assert small == general
    assert 'class="action"' in small[0]


def test_a_run_larger_than_a_page_takes_the_general_path(monkeypatch):
    flyte.init()
    flyte.with_runcontext(name="rlarge").run(wide, queries.ACTIONS_PAGE + 1)
    run = Run.get("rlarge")
    with st.reader() as conn:
        assert queries.small_run(conn, run) is None
    page = views.run_view("rlarge", {}, templates.StaticLinks(), details=20)[0]
    phases = re.findall(r'class="action" data-action="a\d+" data-phase="([A-Z]+)"', page)
    failed = sum(1 for i in range(queries.ACTIONS_PAGE + 1) if i % 7 == 3)
    assert phases == ["FAILED"] * failed + ["SUCCEEDED"] * (queries.ACTIONS_PAGE - failed)  # one page, failed first


def test_a_run_of_exactly_a_page_of_actions_is_a_small_run():
    """The size is told from an index (store.has_more_actions) before any row is read: a run
    of ACTIONS_PAGE actions (the root and its children) is read whole, one more is not."""
    flyte.init()
    flyte.with_runcontext(name="rexact").run(wide, queries.ACTIONS_PAGE - 1)
    run = Run.get("rexact")
    with st.reader() as conn:
        assert not st.has_more_actions(conn, "rexact", queries.ACTIONS_PAGE)
        assert st.has_more_actions(conn, "rexact", queries.ACTIONS_PAGE - 1)
        assert not st.has_more_actions(conn, "no such run", 0)
        small = queries.small_run(conn, run)
    assert small is not None
    counts, _, _, actions = small
    assert sum(counts.values()) == len(actions) == queries.ACTIONS_PAGE
