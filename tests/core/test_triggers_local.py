"""Deployed triggers fire locally by the guide's timing rules (DST included), with the
trigger's inputs, and can be listed, (de)activated and deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.runtime import schedule
from flyte.runtime.schedule import next_fire
from flyte.triggers import Cron, FixedRate


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cron_fires_at_the_next_match_after_activation_and_then_every_match():
    daily = Cron("0 0 * * *")
    first = next_fire(daily, utc(2026, 5, 4, 17, 0), None)
    assert first == utc(2026, 5, 5, 0, 0)  # deployed at 17:00: first run 7 hours later
    assert next_fire(daily, utc(2026, 5, 4, 17, 0), first) == utc(2026, 5, 6, 0, 0)
    weekdays = Cron("*/15 14 * * 1-5")
    tuesday_17h = utc(2026, 5, 5, 17, 0)  # a Tuesday
    fires = []
    last = None
    for _ in range(5):
        last = next_fire(weekdays, tuesday_17h, last)
        fires.append(last)
    assert fires[:4] == [utc(2026, 5, 6, 14, m) for m in (0, 15, 30, 45)]  # Wednesday
    assert fires[4] == utc(2026, 5, 7, 14, 0)


def test_cron_time_zones_and_daylight_saving_time():
    pt = Cron("0 9 * * *", timezone="America/Los_Angeles")
    et = Cron("1 12 * * *", timezone="America/New_York")
    start = utc(2026, 6, 1, 0, 0)
    assert (next_fire(et, start, None) - next_fire(pt, start, None)).total_seconds() == 60  # a minute apart
    # 2:30 does not exist on 2026-03-08 in New York: no run that day, the next one is the 9th.
    spring = Cron("30 2 * * *", timezone="America/New_York")
    assert next_fire(spring, utc(2026, 3, 8, 0, 0), None) == utc(2026, 3, 9, 6, 30)  # 2:30 EDT
    # 1:30 happens twice on 2026-11-01: it fires once, at the first occurrence (EDT).
    fall = Cron("30 1 * * *", timezone="America/New_York")
    first = next_fire(fall, utc(2026, 11, 1, 0, 0), None)
    assert first == utc(2026, 11, 1, 5, 30)  # 1:30 EDT
    assert next_fire(fall, utc(2026, 11, 1, 0, 0), first) == utc(2026, 11, 2, 6, 30)  # next day, EST


def test_fixed_rate_with_and_without_start_time():
    hourly = FixedRate(60)
    deployed = utc(2026, 10, 24, 13, 15)
    assert next_fire(hourly, deployed, None) == utc(2026, 10, 24, 14, 15)  # an interval after activation
    assert next_fire(hourly, deployed, utc(2026, 10, 24, 14, 15)) == utc(2026, 10, 24, 15, 15)
    anchored = FixedRate(60, start_time=datetime(2025, 10, 26, 10, 0, 0))
    assert next_fire(anchored, utc(2025, 10, 24, 9, 0), None) == utc(2025, 10, 26, 10, 0)  # active at start
    late = utc(2025, 10, 28, 12, 35)
    assert next_fire(anchored, late, None) == utc(2025, 10, 28, 13, 0)  # aligned to start_time
    assert next_fire(anchored, late, utc(2025, 10, 28, 13, 0)) == utc(2025, 10, 28, 14, 0)


def test_cron_and_fixed_rate_share_the_public_next_after():
    # The same call previews either schedule: the first fire time strictly after a moment.
    daily = Cron("30 6 * * *", timezone="Europe/Paris")
    assert daily.next_after(utc(2026, 7, 1, 4, 30)) == utc(2026, 7, 2, 4, 30)  # 06:30 CEST, strictly after
    anchored = FixedRate(45, start_time=datetime(2026, 1, 1, 0, 0))  # naive: UTC
    assert anchored.next_after(utc(2025, 12, 31, 0, 0)) == utc(2026, 1, 1, 0, 0)  # before the start: the start
    assert anchored.next_after(utc(2026, 1, 1, 0, 0)) == utc(2026, 1, 1, 0, 45)  # strictly after
    assert anchored.next_after(utc(2026, 1, 1, 1, 0)) == utc(2026, 1, 1, 1, 30)
    # Without start_time the rate counts from the activation or the last fire: one interval later.
    assert FixedRate(10).next_after(datetime(2026, 1, 1, 12, 0)) == utc(2026, 1, 1, 12, 10)
    assert FixedRate(10).next_after(utc(2026, 1, 1, 12, 0)).tzinfo is not None


TASKS = """
import os
from datetime import datetime
import flyte

env = flyte.TaskEnvironment(name="scheduled")


@env.task(
    triggers=[
        flyte.Trigger.hourly(),
        flyte.Trigger("custom", flyte.FixedRate(30), inputs={"at": flyte.TriggerTime, "x": 5},
                      env_vars={"FROM_TRIGGER": "yes"}, auto_activate=False),
    ]
)
def report(trigger_time: datetime | None = None, at: datetime | None = None, x: int = 1) -> str:
    when = trigger_time or at
    return f"{when.isoformat()} x={x} env={os.environ.get('FROM_TRIGGER')}"
"""


@pytest.fixture
def deployed(tmp_path):
    path = tmp_path / "scheduled_tasks.py"
    path.write_text(TASKS)
    import sys

    from flyte._loader import load_file

    sys.modules.pop("scheduled_tasks", None)  # load_file reuses a module of the same name (another test's)
    module = load_file(path)
    flyte.init()
    flyte.deploy(module.env)
    return module


def test_deploy_records_triggers_and_the_scheduler_fires_the_due_ones(deployed):
    rows = {r["name"]: r for r in schedule.list_triggers()}
    assert set(rows) == {"hourly", "custom"}
    assert rows["hourly"]["active"] == 1 and rows["custom"]["active"] == 0  # auto_activate=False
    activated = datetime.fromtimestamp(rows["hourly"]["activated_at"], UTC)
    first = next_fire(Cron("0 * * * *"), activated, None)
    assert schedule.fire_due(now=activated) == []  # nothing is due at activation
    (fired,) = schedule.fire_due(now=first)
    name, task, run = fired
    assert (name, task) == ("hourly", "scheduled.report")
    assert run.outputs() == f"{first.isoformat()} x=1 env=None"  # the scheduled time, in UTC
    assert schedule.fire_due(now=first) == []  # fired once


def test_missed_fire_times_fire_once_for_the_latest(deployed):
    row = next(r for r in schedule.list_triggers() if r["name"] == "hourly")
    activated = datetime.fromtimestamp(row["activated_at"], UTC)
    three_hours = next_fire(Cron("0 * * * *"), activated, None)
    for _ in range(2):
        three_hours = next_fire(Cron("0 * * * *"), activated, three_hours)
    (fired,) = schedule.fire_due(now=three_hours)
    assert fired[2].outputs()[0].startswith(three_hours.isoformat())
    assert schedule.fire_due(now=three_hours) == []


def test_activation_inputs_env_vars_and_cli(deployed):
    runner = CliRunner()
    listed = runner.invoke(build_cli(), ["get", "trigger"])
    assert "custom  scheduled.report  every 30 min  inactive  last fired: never  next: when activated" in listed.output
    assert runner.invoke(build_cli(), ["update", "trigger", "custom", "scheduled.report", "--activate"]).exit_code == 0
    row = next(r for r in schedule.list_triggers() if r["name"] == "custom")
    activated = datetime.fromtimestamp(row["activated_at"], UTC)
    due = next_fire(FixedRate(30), activated, None)
    results = {name: run for name, _, run in schedule.fire_due(now=due)}
    assert results["custom"].outputs() == f"{due.isoformat()} x=5 env=yes"
    assert (
        runner.invoke(build_cli(), ["update", "trigger", "custom", "scheduled.report", "--deactivate"]).exit_code == 0
    )
    assert runner.invoke(build_cli(), ["delete", "trigger", "hourly", "scheduled.report"]).exit_code == 0
    assert [r["name"] for r in schedule.list_triggers()] == ["custom"]
    missing = runner.invoke(build_cli(), ["delete", "trigger", "nope", "scheduled.report"])
    assert missing.exit_code != 0 and "no deployed trigger 'nope'" in missing.output
    assert json.loads(schedule.as_json(schedule.list_triggers()))[0]["name"] == "custom"


def test_redeploying_keeps_activation_and_drops_removed_triggers(deployed, tmp_path):
    before = {r["name"]: r["activated_at"] for r in schedule.list_triggers()}
    flyte.deploy(deployed.env)
    after = {r["name"]: r["activated_at"] for r in schedule.list_triggers()}
    assert after == before
    path = tmp_path / "scheduled_tasks.py"
    path.write_text(TASKS.replace("flyte.Trigger.hourly(),\n", ""))
    import importlib

    module = importlib.reload(deployed)
    flyte.deploy(module.env)
    assert [r["name"] for r in schedule.list_triggers()] == ["custom"]


def test_serve_once_fires_nothing_before_the_first_fire_time(deployed):
    result = CliRunner().invoke(build_cli(), ["serve", "triggers", "--once"])
    assert result.exit_code == 0 and result.output == ""


def test_get_trigger_shows_the_next_fire_times_of_cron_and_fixed_rate(deployed):
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["update", "trigger", "custom", "scheduled.report", "--activate"]).exit_code == 0
    rows = {r["name"]: r for r in schedule.list_triggers()}
    out = runner.invoke(build_cli(), ["get", "trigger", "--count", "2", "-o", "json"])
    assert out.exit_code == 0, out.output
    shown = {r["name"]: r["next_fires"] for r in json.loads(out.output)}
    hourly_from = datetime.fromtimestamp(rows["hourly"]["activated_at"], UTC)
    first = Cron("0 * * * *").next_after(hourly_from)
    assert shown["hourly"] == [t.isoformat(timespec="seconds") for t in (first, Cron("0 * * * *").next_after(first))]
    custom_from = datetime.fromtimestamp(rows["custom"]["activated_at"], UTC)
    rate = FixedRate(30)
    expected = [rate.next_after(custom_from), rate.next_after(rate.next_after(custom_from))]
    assert shown["custom"] == [t.isoformat(timespec="seconds") for t in expected]
    table = runner.invoke(build_cli(), ["get", "trigger", "hourly"]).output
    assert f"next: {first.isoformat(timespec='seconds')}, " in table


def test_get_trigger_shows_fire_times_missed_while_no_scheduler_ran_as_one_due_now(deployed, monkeypatch):
    # Deployed, then no `flyte serve triggers` for hours: the past hours are not "next"; the
    # scheduler will fire once, for the latest, and the listing says so, then the future times.
    import flyte.cli.triggers as cli_triggers

    row = next(r for r in schedule.list_triggers() if r["name"] == "hourly")
    first = next_fire(Cron("0 * * * *"), datetime.fromtimestamp(row["activated_at"], UTC), None)
    now = first + timedelta(hours=2, minutes=30)

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return now

    monkeypatch.setattr(cli_triggers, "datetime", Later)
    out = CliRunner().invoke(build_cli(), ["get", "trigger", "hourly", "-o", "json"])
    assert out.exit_code == 0, out.output
    (shown,) = [r["next_fires"] for r in json.loads(out.output)]
    missed = f"due now (missed since {first.isoformat(timespec='seconds')}; fired once by `flyte serve triggers`)"
    future = [(first + timedelta(hours=h)).isoformat(timespec="seconds") for h in (3, 4)]
    assert shown == [missed, *future]
