"""`flyte runs show NAME`: counts first, failed actions first, a page at a time (--limit,
--offset), only some phases (--status), the same in --json; big runs are read a page at a time."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.runtime import store as st
from store_plans import failed_page_plan

env = flyte.TaskEnvironment(name="show")


@env.task
async def shard(i: int) -> int:
    if i % 10 == 3:
        raise ValueError(f"shard {i} cannot be parsed")
    return i


@env.task
async def fan_out(n: int) -> int:
    results = await asyncio.gather(*(shard(i) for i in range(n)), return_exceptions=True)
    return sum(isinstance(r, Exception) for r in results)


def show(*args: str):
    result = CliRunner().invoke(build_cli(), ["runs", "show", *args])
    assert result.exit_code == 0, result.output
    return result.output


def rows(output: str) -> list[list[str]]:
    """The action rows of the text table (ids start with 'a'), split into columns: ACTION, PARENT,
    TASK, GROUP, PHASE, ..."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ACTION"))
    return [line.split() for line in lines[start + 1 :] if line.startswith("a")]


@pytest.fixture
def run_name() -> str:
    return flyte.run(fan_out, n=30).name  # 1 parent + 30 shards, 3 of them failed


def test_counts_come_first_and_failed_actions_lead_the_list(run_name: str):
    out = show(run_name)
    assert "actions: 31 (FAILED 3 · SUCCEEDED 28)" in out
    listed = rows(out)
    assert [r[0] for r in listed[:3]] == ["a4", "a14", "a24"]  # shards 3, 13, 23 (a0 is the parent)
    assert all(r[4] == "FAILED" and "ValueError" in " ".join(r) for r in listed[:3])
    assert [r[4] for r in listed[3:]] == ["SUCCEEDED"] * 28
    assert out.rstrip().endswith("1-31 of 31 actions, failed first")


def test_limit_and_offset_page_through_every_action_once(run_name: str):
    first = show(run_name, "--limit", "5")
    assert len(rows(first)) == 5
    assert f"next: flyte runs show {run_name} --limit 5 --offset 5" in first
    seen = []
    offset = 0
    while True:
        page = show(run_name, "--limit", "7", "--offset", str(offset))
        seen += [r[0] for r in rows(page)]
        if "next:" not in page:
            break
        offset += 7
    assert len(seen) == len(set(seen)) == 31
    assert seen == [r[0] for r in rows(show(run_name, "--limit", "0"))]


def test_status_selects_phases_in_any_case_and_comma_separated(run_name: str):
    failed = rows(show(run_name, "--status", "failed"))
    assert [r[4] for r in failed] == ["FAILED"] * 3
    both = rows(show(run_name, "--status", "FAILED,succeeded", "--limit", "0"))
    assert len(both) == 31
    assert "no actions in phase RUNNING to show" in show(run_name, "--status", "RUNNING")
    bad = CliRunner().invoke(build_cli(), ["runs", "show", run_name, "--status", "broken"])
    assert bad.exit_code == 2 and "'BROKEN' is not a phase (accepted: FAILED, ABORTED" in bad.output


def test_json_takes_the_same_options(run_name: str):
    doc = json.loads(show(run_name, "--json", "--status", "failed,succeeded", "--limit", "4", "--offset", "2"))
    assert doc["summary"] == {"FAILED": 3, "SUCCEEDED": 28}
    assert (doc["total"], doc["matching"], doc["offset"], doc["limit"], doc["next_offset"]) == (31, 31, 2, 4, 6)
    assert [a["phase"] for a in doc["actions"]] == ["FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    everything = json.loads(show(run_name, "--json", "--limit", "0"))
    assert len(everything["actions"]) == 31 and everything["next_offset"] is None
    assert everything["phase"] == "SUCCEEDED" and everything["error"] is None


def test_an_unknown_run_is_one_clear_error():
    result = CliRunner().invoke(build_cli(), ["runs", "show", "no-such-run"])
    assert result.exit_code == 1 and "no run named 'no-such-run'" in result.output


def big_run(name: str, actions: int) -> None:
    conn = st.connect()
    conn.execute(
        "INSERT INTO runs (name, task, status, created_at, ended_at) VALUES (?, 'big.main', 'FAILED', 0, 1)", (name,)
    )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO actions (run, id, number, task, status, attempts, error) VALUES (?, ?, ?, 'big.shard', ?, 1, ?)",
        [
            (
                name,
                st.action_id(i),
                i,
                "FAILED" if i % 1000 == 7 else "SUCCEEDED",
                "ValueError: bad" if i % 1000 == 7 else None,
            )
            for i in range(actions)
        ],
    )
    conn.execute("COMMIT")
    conn.close()


def test_a_big_run_prints_one_page_and_its_counts(flyte_home):
    big_run("big", 20_000)
    out = show("big")
    assert "actions: 20,000 (FAILED 20 · SUCCEEDED 19,980)" in out
    listed = rows(out)
    assert len(listed) == 50 and [r[4] for r in listed[:20]] == ["FAILED"] * 20
    last = rows(show("big", "--offset", "19990"))
    assert [r[0] for r in last] == [f"a{i}" for i in range(19990, 20000) if i % 1000 != 7][-10:]


def test_each_page_is_read_through_the_index_not_by_sorting_the_run(flyte_home):
    big_run("big", 100)
    with st.reader() as conn:
        cursor = st.action_rows(conn, "big", ["FAILED"], 50, 0)
        cursor.close()
        plan = failed_page_plan(conn, "big")
    assert "actions_by_run_status" in plan and "TEMP B-TREE" not in plan, plan


@env.task
async def grouped_stages(n: int) -> int:
    with flyte.group("validate"):
        await shard(0)
        with flyte.group("deep"):
            await shard(1)
    return sum(flyte.map(shard, [4, 5], group_name="mapped"))


def test_each_action_shows_the_group_it_ran_in():
    # The grouping guide's flyte.group (and a named flyte.map) as the list shows them: "-" for none.
    name = flyte.run(grouped_stages, n=1).name
    groups = {r[0]: r[3] for r in rows(show(name))}
    assert groups == {"a0": "-", "a1": "validate", "a2": "validate/deep", "a3": "mapped", "a4": "mapped"}
    as_json = json.loads(show(name, "--json"))
    assert {a["id"]: a["group"] for a in as_json["actions"]} == {**groups, "a0": None}
