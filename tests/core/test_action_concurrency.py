"""``max_action_concurrency``: a run's cap on task bodies running at once, from
``with_runcontext``, ``flyte run --max-action-concurrency`` or the trigger that fired the run
(with the trigger's ``custom_context``); the reference SDK's values (0, or at least 2)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest
from click.testing import CliRunner

import flyte
import flyte.remote
from flyte.cli.main import build_cli
from flyte.runtime import settings as cfg
from spans import max_overlap

env = flyte.TaskEnvironment(name="capped")


@env.task
async def span(i: int) -> tuple[float, float]:
    start = time.monotonic()
    await asyncio.sleep(0.2)
    return start, time.monotonic()


@env.task
async def fan_out(n: int) -> list[tuple[float, float]]:
    return list(await asyncio.gather(*(span(i) for i in range(n))))


@pytest.fixture(autouse=True)
def _local():
    flyte.init()


def test_a_runs_cap_bounds_its_bodies_running_at_once():
    capped = flyte.with_runcontext(max_action_concurrency=2).run(fan_out, 6).outputs()[0]
    assert max_overlap(capped) <= 2
    free = flyte.run(fan_out, 6).outputs()[0]  # the next run has no cap
    assert max_overlap(free) > 2
    zero = flyte.with_runcontext(max_action_concurrency=0).run(fan_out, 6).outputs()[0]  # 0: the default
    assert max_overlap(zero) > 2


@pytest.mark.parametrize(("value", "error"), [(1, ValueError), (-3, ValueError), (True, TypeError), ("2", TypeError)])
def test_a_cap_that_would_deadlock_or_is_not_an_int_is_refused_by_name(value, error):
    with pytest.raises(error, match=r"max_action_concurrency: .*0 \(the .*default\) or at least 2"):
        flyte.with_runcontext(max_action_concurrency=value)
    with pytest.raises(error, match=r"Trigger.max_action_concurrency: .*0 \(the default\) or at least 2"):
        flyte.Trigger("t", max_action_concurrency=value)


def test_flyte_run_takes_the_cap_and_refuses_one(tmp_path):
    script = tmp_path / "fan.py"
    script.write_text(
        "import asyncio, time, flyte\n"
        "env = flyte.TaskEnvironment(name='cli_capped')\n"
        "@env.task\n"
        "async def span(i: int) -> list[float]:\n"
        "    s = time.monotonic(); await asyncio.sleep(0.2); return [s, time.monotonic()]\n"
        "@env.task\n"
        "async def fan_out(n: int) -> list[list[float]]:\n"
        "    return list(await asyncio.gather(*(span(i) for i in range(n))))\n"
    )
    ok = CliRunner().invoke(build_cli(), ["run", "--max-action-concurrency", "2", str(script), "fan_out", "--n", "5"])
    assert ok.exit_code == 0, ok.output
    assert max_overlap(json.loads(ok.stdout)) <= 2
    bad = CliRunner().invoke(build_cli(), ["run", "--max-action-concurrency", "1", str(script), "fan_out", "--n", "5"])
    assert bad.exit_code == 2 and "--max-action-concurrency" in bad.output and "at least 2" in bad.output


TRIGGERED = """
import asyncio, time
import flyte

env = flyte.TaskEnvironment(name="capped_trigger")

batch = flyte.Trigger(name="batch", max_action_concurrency=2, custom_context={"team": "finance"})


@env.task
async def span(i: int) -> list[float]:
    start = time.monotonic()
    await asyncio.sleep(0.2)
    return [start, time.monotonic()]


@env.task(triggers=batch)
async def nightly(n: int = 5) -> dict:
    spans = await asyncio.gather(*(span(i) for i in range(n)))
    return {"spans": list(spans), "team": flyte.ctx().custom_context.get("team")}
"""


def test_a_triggers_cap_and_custom_context_reach_the_runs_it_fires(tmp_path, monkeypatch):
    monkeypatch.setattr(cfg, "_current", cfg._current)
    path = tmp_path / "capped_trigger.py"
    path.write_text(TRIGGERED)
    from flyte._loader import load_file

    sys.modules.pop("capped_trigger", None)
    module = load_file(path)
    flyte.deploy(module.env)
    trigger = flyte.remote.Trigger.get(name="batch", task_name="capped_trigger.nightly")
    fired = flyte.run(trigger).outputs()[0]
    assert fired["team"] == "finance"
    assert max_overlap(fired["spans"]) <= 2
    # What the run context sets wins over the trigger's.
    mine = flyte.with_runcontext(custom_context={"team": "ops"}, max_action_concurrency=3).run(trigger).outputs()[0]
    assert mine["team"] == "ops" and max_overlap(mine["spans"]) <= 3
    assert flyte.Trigger.daily(max_action_concurrency=4).max_action_concurrency == 4
