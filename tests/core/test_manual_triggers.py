"""Manual triggers (no automation) next to a scheduled one on one task, as the public examples
use them: deployed and listed, never fired by the scheduler, fired from Python with
``flyte.run(flyte.remote.Trigger.get(...))``, with overrides and ``with_runcontext``, from
``Trigger.listall``, and from another process; their notifications and the run's both deliver."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import flyte
import flyte.remote
from flyte.cli.main import build_cli
from flyte.errors import ActionNotFoundError, ConfigurationError
from flyte.runtime import schedule
from flyte.runtime import settings as cfg
from http_endpoint import Endpoint

TASK_NAME = "manual_trigger_example.report_on_demand"

MANUAL = """
import os
from datetime import datetime

import flyte
import flyte.notify
from flyte.models import ActionPhase

env = flyte.TaskEnvironment(name="manual_trigger_example")

quick_report = flyte.Trigger(
    name="quick-report",
    inputs={"region": "us-east", "days": 1},
    description="Yesterday only, for a fast sanity check",
    notifications=flyte.notify.Webhook(
        on_phase=(ActionPhase.SUCCEEDED, ActionPhase.FAILED),
        url=os.environ["HOOK_URL"] + "/ok/quick/{{.Run.Name}}",
        body={"phase": "{{.Phase}}", "run": "{{.Run.Name}}"},
    ),
)

full_report = flyte.Trigger(
    name="full-report",
    inputs={"region": "all", "days": 30},
    description="The full monthly report",
    env_vars={"REPORT_VERBOSE": "1"},
    notifications=(
        flyte.notify.Email(on_phase=ActionPhase.SUCCEEDED, recipients=["reports@example.com"]),
        flyte.notify.Slack(on_phase=ActionPhase.FAILED, webhook_url=os.environ["HOOK_URL"] + "/ok/slack/T0K3N-MANUAL"),
    ),
)

nightly = flyte.Trigger(
    name="nightly",
    automation=flyte.Cron("0 2 * * *"),
    inputs={"as_of": flyte.TriggerTime, "region": "all", "days": 1},
    notifications=flyte.notify.Webhook(on_phase="succeeded", url=os.environ["HOOK_URL"] + "/ok/nightly"),
)


@env.task(triggers=(quick_report, full_report, nightly))
async def report_on_demand(region: str = "all", days: int = 7, as_of: datetime | None = None) -> str:
    flags = ",".join(f"{k}={os.environ[k]}" for k in ("REPORT_VERBOSE", "EXTRA_FLAG") if k in os.environ)
    return f"region={region} days={days} as_of={as_of.isoformat() if as_of else None} env={flags}"
"""


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    server = Endpoint()
    monkeypatch.setenv("HOOK_URL", server.url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def deployed(tmp_path, endpoint, monkeypatch):
    """manual.py's shapes, deployed (``flyte.deploy(env)``) from a file of their own."""
    monkeypatch.setattr(cfg, "_current", cfg._current)  # flyte.init here; the next test gets the old settings
    path = tmp_path / "manual_example.py"
    path.write_text(MANUAL)
    from flyte._loader import load_file

    sys.modules.pop("manual_example", None)
    module = load_file(path)
    flyte.init()
    flyte.deploy(module.env)
    return module


def test_manual_triggers_are_deployed_and_listed_but_never_scheduled(deployed, endpoint, flyte_home):
    rows = {r["name"]: r for r in schedule.list_triggers(task=TASK_NAME)}
    assert {n: r["schedule"] for n, r in rows.items()} == {
        "full-report": "manual",
        "nightly": "cron 0 2 * * * (UTC)",
        "quick-report": "manual",
    }
    listed = [(t.name, t.task_name, t.is_manual) for t in flyte.remote.Trigger.listall(task_name=TASK_NAME)]
    assert listed == [(n, TASK_NAME, n != "nightly") for n in ("full-report", "nightly", "quick-report")]
    table = CliRunner().invoke(build_cli(), ["get", "trigger"]).output
    assert "quick-report  manual_trigger_example.report_on_demand  manual  active" in table
    assert "next: on demand" in table
    # A year of the scheduler: only the schedule fires.
    fired = schedule.fire_due(now=datetime.now(UTC) + timedelta(days=365))
    assert [(name, task) for name, task, _ in fired] == [("nightly", TASK_NAME)]
    assert [r["path"] for r in endpoint.requests] == ["/ok/nightly"], fired  # the scheduled run's notification
    assert schedule.next_wakeup(datetime.now(UTC)) <= 60.0


def test_firing_by_hand_with_the_triggers_inputs_overrides_and_run_context(deployed, endpoint):
    trigger = flyte.remote.Trigger.get(name="full-report", task_name=TASK_NAME)
    run = flyte.run(trigger)
    assert run.outputs() == "region=all days=30 as_of=None env=REPORT_VERBOSE=1"
    assert run.inputs() == {"region": "all", "days": 30, "as_of": None}  # as_of: the task's default
    overridden = flyte.run(trigger, days=3)
    assert overridden.outputs() == "region=all days=3 as_of=None env=REPORT_VERBOSE=1"
    quick = flyte.remote.Trigger.get(name="quick-report", task_name=TASK_NAME)
    named = flyte.with_runcontext(env_vars={"EXTRA_FLAG": "1"}, name="quick-report-from-python").run(quick)
    assert named.name == "quick-report-from-python"
    assert named.outputs() == "region=us-east days=1 as_of=None env=EXTRA_FLAG=1"
    assert [r["path"] for r in endpoint.requests] == ["/ok/quick/quick-report-from-python"]
    assert endpoint.requests[0]["json"] == {"phase": "SUCCEEDED", "run": "quick-report-from-python"}
    outcomes = flyte.remote.Run.get(run.name).notifications()
    assert [(o["kind"], o["outcome"]) for o in outcomes] == [("Email", "not delivered")]  # no SMTP configured


def test_every_listed_trigger_fires_and_a_schedule_fired_by_hand_gets_the_fire_time(deployed):
    before = datetime.now(UTC)
    runs = [flyte.run(trigger) for trigger in flyte.remote.Trigger.listall(task_name=TASK_NAME)]
    after = datetime.now(UTC)
    outputs = [r.outputs()[0] for r in runs]
    assert outputs[0] == "region=all days=30 as_of=None env=REPORT_VERBOSE=1"
    assert outputs[2] == "region=us-east days=1 as_of=None env="
    as_of = datetime.fromisoformat(outputs[1].split("as_of=")[1].split(" ")[0])
    assert before <= as_of <= after and as_of.tzinfo is not None  # nightly, fired now
    pinned = flyte.run(flyte.remote.Trigger.get(name="nightly", task_name=TASK_NAME), as_of=before)
    assert f"as_of={before.isoformat()}" in pinned.outputs()[0]  # an explicit value wins over the fire time


def test_the_trigger_and_the_run_context_notifications_both_deliver(deployed, endpoint):
    quick = flyte.remote.Trigger.get(name="quick-report", task_name=TASK_NAME)
    extra = flyte.notify.Webhook(on_phase="succeeded", url=endpoint.url + "/ok/extra")
    run = flyte.with_runcontext(name="both", notifications=extra).run(quick)
    assert sorted(r["path"] for r in endpoint.requests) == ["/ok/extra", "/ok/quick/both"]
    assert [o["outcome"] for o in run.notifications()] == ["delivered", "delivered"]


def test_async_listall_and_run_aio(deployed):
    async def main() -> list[str]:
        names = [t.name async for t in flyte.remote.Trigger.listall.aio(task_name=TASK_NAME)]
        trigger = await flyte.remote.Trigger.get.aio(name="quick-report", task_name=TASK_NAME)
        run = await flyte.run.aio(trigger, region="eu")
        return [*names, run.outputs()[0]]

    assert asyncio.run(main()) == ["full-report", "nightly", "quick-report", "region=eu days=1 as_of=None env="]


def test_bad_trigger_runs_are_clear_errors(deployed):
    trigger = flyte.remote.Trigger.get(name="full-report", task_name=TASK_NAME)
    with pytest.raises(ConfigurationError, match=r"weeks is not an input of .*accepted: region, days, as_of"):
        flyte.run(trigger, weeks=2)
    with pytest.raises(ConfigurationError, match="by keyword only"):
        flyte.run(trigger, "eu")
    with pytest.raises(ActionNotFoundError, match=r"no deployed trigger 'monthly'.*deployed: full-report"):
        flyte.remote.Trigger.get(name="monthly", task_name=TASK_NAME)
    with pytest.raises(TypeError, match="flyte.remote.Trigger"):
        flyte.run(deployed.quick_report)  # the configuration, not a deployed trigger


def test_a_trigger_fired_from_another_process(deployed, tmp_path, endpoint, flyte_home):
    script = tmp_path / "programmatic.py"
    script.write_text(
        "import flyte, flyte.remote\n"
        "flyte.init_from_config()\n"
        f"trigger = flyte.remote.Trigger.get(name='full-report', task_name={TASK_NAME!r})\n"
        "run = flyte.run(trigger, days=3)\n"
        "run.wait()\n"
        "print(run.phase, run.inputs(), run.outputs()[0])\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ), timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "SUCCEEDED {'region': 'all', 'days': 3, 'as_of': None} region=all days=3 as_of=None env=REPORT_VERBOSE=1"
    )
    assert "T0K3N-MANUAL" not in out.stderr + out.stdout
    stored = "".join(p.read_bytes().decode("utf-8", "replace") for p in flyte_home.rglob("*") if p.is_file())
    assert "T0K3N-MANUAL" not in stored  # deployment records, trigger tables, run records, pages
