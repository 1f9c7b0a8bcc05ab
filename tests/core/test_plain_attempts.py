"""A plain first attempt (an async child with no slot cap, worker, time limit, deadline,
plugin, connector, secrets or data to read) skips the controller's attempt layers: what it
prints, its context, its failures, its retries and its cancellation are recorded as for any
other attempt."""

from __future__ import annotations

import asyncio
import os

import pytest

import flyte
from flyte._context import current_caller
from flyte.runtime import controller
from flyte.runtime import store as st
from flyte.runtime.attempts import attempts_of

env = flyte.TaskEnvironment(name="plain", env_vars={"PLAIN_VAR": "child"})
cached = flyte.TaskEnvironment(name="plain_cached", cache="auto")
parents = flyte.TaskEnvironment(name="plain_parents", depends_on=[env, cached])
failures: dict[str, int] = {}


def log_of(run: str, action: str, attempt: int = 1) -> str:
    path = st.db_path().parent / "runs" / run / "logs" / f"{action}-{attempt}.log"
    return path.read_text() if path.exists() else ""


def action_row(run: str, action: str) -> dict:
    with st.reader() as conn:
        return dict(st.action_row(conn, run, action))


def children_of(run: str) -> list[dict]:
    with st.reader() as conn:
        rows = conn.execute("SELECT * FROM actions WHERE run=? AND parent IS NOT NULL ORDER BY number", (run,))
        return [dict(r) for r in rows]


@env.task
async def speaks(i: int) -> dict:
    print(f"child {i} speaks")
    ctx = flyte.ctx()
    return {"action": ctx.action.name, "var": os.environ.get("PLAIN_VAR"), "me": current_caller().id}


@parents.task
async def listens() -> dict:
    print("parent before")
    seen = await speaks(1)
    print("parent after")
    return {**seen, "parent_var": os.environ.get("PLAIN_VAR"), "parent": current_caller().id}


def test_a_plain_childs_lines_context_and_record_are_its_own():
    flyte.init()
    run = flyte.with_runcontext(name="rplain").run(listens)
    out = run.outputs()[0]
    (child,) = children_of("rplain")
    # Its context: its own action, its environment's variables; the parent's back after it.
    assert out["me"] == child["id"] and out["parent"] == "a0" and out["action"].endswith(child["id"])
    assert (out["var"], out["parent_var"]) == ("child", None)
    # What each printed went to its own attempt's log, the parent's lines on both sides of the call.
    assert log_of("rplain", child["id"]) == "child 1 speaks\n"
    assert log_of("rplain", "a0") == "parent before\nparent after\n"
    assert (child["status"], child["attempts"], child["error"], child["cache"]) == (st.SUCCEEDED, 1, None, "disabled")
    assert child["queued_at"] == child["started_at"] <= child["ended_at"]
    assert child["number"] == st.action_number(child["id"])
    # A first attempt that succeeded in this process is read from the action's row.
    with st.reader() as conn:
        (attempt,) = attempts_of(conn, "rplain", child["id"])
    assert (attempt["attempt"], attempt["started_at"], attempt["ended_at"]) == (
        1,
        child["started_at"],
        child["ended_at"],
    )


@env.task
async def breaks(i: int) -> int:
    print(f"breaking {i}")
    raise ValueError(f"bad input {i}")


@parents.task
async def survives_a_failure() -> str:
    try:
        await breaks(3)
    except ValueError as exc:
        return str(exc)
    return "no error"


def test_a_plain_child_that_fails_is_recorded_failed_with_its_attempt_and_log():
    flyte.init()
    run = flyte.with_runcontext(name="rbreaks").run(survives_a_failure)
    assert run.outputs() == "bad input 3"
    (child,) = children_of("rbreaks")
    assert (child["status"], child["attempts"]) == (st.FAILED, 1)
    assert child["error"] == "ValueError: bad input 3"
    with st.reader() as conn:
        (attempt,) = attempts_of(conn, "rbreaks", child["id"])
    assert (attempt["attempt"], attempt["outcome"], attempt["error_type"], attempt["message"]) == (
        1,
        st.FAILED,
        "ValueError",
        "bad input 3",
    )
    assert "breaks" in attempt["traceback"] and attempt["log_path"].endswith(f"{child['id']}-1.log")
    assert log_of("rbreaks", child["id"]) == "breaking 3\n"


@env.task(retries=flyte.RetryStrategy(count=2, backoff=flyte.retry.Backoff(base=0.01)))
async def flaky(key: str) -> int:
    failures[key] = failures.get(key, 0) + 1
    print(f"attempt {failures[key]}")
    if failures[key] == 1:
        raise RuntimeError("first attempt fails")
    return failures[key]


@parents.task
async def retries_a_child() -> dict:
    me = current_caller()
    events: list[str] = []

    def listener(run: str, action: str, task: str, status: str, attempt: int, detail: str | None) -> None:
        if action != me.id:
            events.append(f"{status}:{attempt}")

    controller.listeners.append(listener)
    try:
        value = await flaky("retried")
    finally:
        controller.listeners.remove(listener)
    return {"value": value, "events": events}


def test_a_plain_first_attempt_that_fails_is_retried_and_each_attempt_recorded():
    failures.clear()
    flyte.init()
    run = flyte.with_runcontext(name="rflaky").run(retries_a_child)
    out = run.outputs()[0]
    assert out["value"] == 2
    assert out["events"] == ["QUEUED:0", "RUNNING:1", "RETRYING:1", "RUNNING:2", "SUCCEEDED:2"]
    (child,) = children_of("rflaky")
    assert (child["status"], child["attempts"], child["error"]) == (st.SUCCEEDED, 2, None)
    with st.reader() as conn:
        first, second = attempts_of(conn, "rflaky", child["id"])
    assert (first["outcome"], first["error_type"], first["message"]) == (
        st.FAILED,
        "RuntimeError",
        "first attempt fails",
    )
    assert (second["outcome"], second["error_type"]) == (st.SUCCEEDED, None)
    assert first["ended_at"] <= second["started_at"]
    assert (log_of("rflaky", child["id"], 1), log_of("rflaky", child["id"], 2)) == ("attempt 1\n", "attempt 2\n")


@env.task
async def waits_forever() -> int:
    await asyncio.Event().wait()
    return 0


@parents.task
async def cancels_a_child() -> str:
    child = asyncio.ensure_future(waits_forever())
    for _ in range(100):  # loop turns until the child runs
        await asyncio.sleep(0)
    child.cancel()
    with pytest.raises(asyncio.CancelledError):
        await child
    return "cancelled"


def test_a_cancelled_plain_child_is_recorded_aborted():
    flyte.init()
    run = flyte.with_runcontext(name="rcancel").run(cancels_a_child)
    assert run.outputs() == "cancelled"
    (child,) = children_of("rcancel")
    assert child["status"] == st.ABORTED and "was cancelled" in child["error"]
    assert child["ended_at"] is not None


@cached.task
async def remembered(i: int) -> int:
    return i * 10


@parents.task
async def hits(n: int) -> list[int]:
    return list(await asyncio.gather(*(remembered(i) for i in range(n))))


def test_cache_hits_are_recorded_with_the_number_of_their_id():
    flyte.init()
    flyte.with_runcontext(name="rfill").run(hits, 3)
    run = flyte.with_runcontext(name="rhits").run(hits, 3)
    assert run.outputs() == [0, 10, 20]
    rows = children_of("rhits")
    assert [r["cache"] for r in rows] == ["hit"] * 3
    assert [r["number"] for r in rows] == [st.action_number(r["id"]) for r in rows] == [1, 2, 3]
