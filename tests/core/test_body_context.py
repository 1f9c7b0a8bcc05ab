"""A running body's context (the action it runs as, its task-context data, its environment
overlay, its attempt's log) is one context variable (flyte._context.BodyContext): each body
sees only its own, whatever path its attempt takes (plain, retried, time-limited on a thread,
sync), in a gather as awaited one by one, and its caller's comes back after it, also when it
failed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from datetime import timedelta

import flyte
from flyte._context import current_body, current_caller, current_task_data
from flyte.runtime import environ
from flyte.runtime import store as st

kids = flyte.TaskEnvironment(name="bodyctx_kids", env_vars={"BODY_VAR": "kid"})
others = flyte.TaskEnvironment(name="bodyctx_others", env_vars={"BODY_VAR": "other"})
parents = flyte.TaskEnvironment(name="bodyctx_parents", depends_on=[kids, others], env_vars={"BODY_VAR": "parent"})
tries: dict[str, int] = {}


def log_of(run: str, action: str, attempt: int = 1) -> str:
    path = st.db_path().parent / "runs" / run / "logs" / f"{action}-{attempt}.log"
    return path.read_text() if path.exists() else ""


def seen(tag: str) -> dict:
    """What the running body sees of its context; it also writes a variable of its own."""
    before = os.environ.get("BODY_WRITTEN")
    os.environ["BODY_WRITTEN"] = tag
    print(f"line of {tag}")
    ctx = flyte.ctx()
    return {
        "me": current_caller().id,
        "ctx": ctx.action.name,
        "var": os.environ.get("BODY_VAR"),
        "written_before": before,
        "data_is_dict": isinstance(current_task_data(), dict),
    }


@kids.task
async def plain(tag: str) -> dict:
    await asyncio.sleep(0)  # the gather's siblings run in between
    return seen(tag)


@others.task(retries=1)
async def retried(tag: str) -> dict:
    tries[tag] = tries.get(tag, 0) + 1
    if tries[tag] == 1:
        print(f"first try of {tag}")
        raise RuntimeError("once")
    return seen(tag)


@kids.task(timeout=timedelta(seconds=30))
async def limited(tag: str) -> dict:  # a time limit: its body runs on a thread of its own
    return seen(tag)


@others.task
def sync_child(tag: str) -> dict:
    return seen(tag)


@kids.task
async def fails(tag: str) -> dict:
    os.environ["BODY_WRITTEN"] = tag
    print(f"failing {tag}")
    raise ValueError(tag)


@parents.task
async def gathers() -> dict:
    print("parent first")
    results = await asyncio.gather(plain("p1"), retried("r1"), limited("l1"), plain("p2"))
    results.append(sync_child("s1"))  # a sync child called from async code runs to its end here
    with contextlib.suppress(ValueError):
        await fails("f1")
    print("parent last")
    return {
        "children": results,
        "parent": current_caller().id,
        "var": os.environ.get("BODY_VAR"),
        "written": os.environ.get("BODY_WRITTEN"),
    }


def test_each_body_sees_its_own_context_and_its_callers_comes_back():
    flyte.init()
    tries.clear()
    out = flyte.with_runcontext(name="rbodyctx").run(gathers).outputs()[0]
    with st.reader() as conn:
        rows = {
            r["id"]: dict(r)
            for r in conn.execute("SELECT * FROM actions WHERE run=? AND parent IS NOT NULL", ("rbodyctx",))
        }
    by_input = {row["inputs"]: row for row in rows.values()}
    expected_var = {"p1": "kid", "r1": "other", "l1": "kid", "p2": "kid", "s1": "other"}
    for child in out["children"]:
        tag = next(t for t in expected_var if by_input[f'{{"tag":"{t}"}}']["id"] == child["me"])
        row = by_input[f'{{"tag":"{tag}"}}']
        assert child["ctx"].endswith(row["id"])
        assert child["var"] == expected_var[tag]
        # A sibling's write to os.environ is the sibling's: each body starts from its own copy.
        assert child["written_before"] is None
        assert child["data_is_dict"]
        attempt = 2 if tag == "r1" else 1
        assert log_of("rbodyctx", row["id"], attempt) == f"line of {tag}\n"
        assert row["status"] == st.SUCCEEDED and row["attempts"] == attempt
    # The retried child's first attempt printed into its own log (its attempt's, not the parent's).
    assert log_of("rbodyctx", by_input['{"tag":"r1"}']["id"], 1) == "first try of r1\n"
    # The failed child's context ended with it: the parent is itself again.
    failed = by_input['{"tag":"f1"}']
    assert failed["status"] == st.FAILED and log_of("rbodyctx", failed["id"]) == "failing f1\n"
    assert (out["parent"], out["var"], out["written"]) == ("a0", "parent", None)
    assert log_of("rbodyctx", "a0") == "parent first\nparent last\n"
    # Outside the run: no body.
    assert current_caller() is None and current_task_data() is None
    assert os.environ.get("BODY_VAR") is None and os.environ.get("BODY_WRITTEN") is None


def test_environ_enter_keeps_the_rest_of_the_body_context():
    token = current_body.set(current_body.get().but(caller="someone", data={"k": 1}, log=None))
    try:
        inner = environ.enter({"BODY_VAR": "mine"})
        try:
            assert os.environ["BODY_VAR"] == "mine"
            assert (current_caller(), current_task_data()) == ("someone", {"k": 1})
        finally:
            environ.leave(inner)
        assert "BODY_VAR" not in os.environ and current_caller() == "someone"
    finally:
        current_body.reset(token)
    assert current_caller() is None


@kids.task
async def where(tag: str) -> dict:
    return {"var": os.environ.get("BODY_VAR"), "thread": threading.get_ident()}


@parents.task
async def calls_overrides() -> list:
    first = await where("plain")  # the task object's plan is made here
    limited_one = await where.override(timeout=timedelta(seconds=30))("limited")
    other_env = await where.override(env_vars={"BODY_VAR": "overridden"})("env")
    again = await where("again")
    mine = threading.get_ident()
    return [{"var": r["var"], "on_loop_thread": r["thread"] == mine} for r in (first, limited_one, other_env, again)]


def test_a_tasks_overrides_are_planned_apart_from_it():
    """The plan a task object's calls reuse (created RUNNING, a plain first attempt, its
    variables) is its own: an override made after the original ran is planned from its own
    spec (a time limit runs the body on a thread; other variables are seen)."""
    flyte.init()
    first, limited_one, other_env, again = flyte.with_runcontext(name="rbodyplan").run(calls_overrides).outputs()[0]
    assert first == again == {"var": "kid", "on_loop_thread": True}
    assert limited_one == {"var": "kid", "on_loop_thread": False}
    assert other_env == {"var": "overridden", "on_loop_thread": True}
    with st.reader() as conn:
        rows = conn.execute(
            "SELECT inputs, status, queued_at = started_at AS at_once FROM actions WHERE run=? AND parent IS NOT NULL",
            ("rbodyplan",),
        ).fetchall()
    assert {r["inputs"]: (r["status"], r["at_once"]) for r in rows} == {
        '{"tag":"plain"}': (st.SUCCEEDED, 1),
        '{"tag":"limited"}': (st.SUCCEEDED, 1),
        '{"tag":"env"}': (st.SUCCEEDED, 1),
        '{"tag":"again"}': (st.SUCCEEDED, 1),
    }
