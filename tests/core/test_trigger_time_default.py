"""A parameter whose default is ``flyte.TriggerTime`` (the guide's
``multi_trigger_task(trigger_time: datetime = flyte.TriggerTime)``): every firing of any of the
task's triggers fills it with the fire time, locally and in the rendered CronJob; a direct run
must pass a value and is told so, rather than handing the placeholder to the function."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.errors import InputTypeError
from flyte.runtime import schedule
from flyte.runtime.schedule import next_fire
from flyte.triggers import Cron

TASKS = textwrap.dedent("""
    from datetime import datetime
    import flyte

    env = flyte.TaskEnvironment(name="trigger_default")

    @env.task(triggers=[flyte.Trigger("custom", flyte.Cron("0 */6 * * *"))])
    def stamped(trigger_time: datetime = flyte.TriggerTime, x: int = 1) -> str:
        return f"{trigger_time.isoformat()} x={x}"
""")


@pytest.fixture
def module(tmp_path):
    from flyte._loader import load_file

    path = tmp_path / "trigger_default_tasks.py"
    path.write_text(TASKS)
    sys.modules.pop("trigger_default_tasks", None)
    return load_file(path)


def test_a_direct_run_without_the_time_names_the_input_and_what_to_pass(module):
    flyte.init()
    with pytest.raises(InputTypeError) as caught:
        flyte.run(module.stamped)
    message = str(caught.value)
    assert "'trigger_time'" in message and "flyte.TriggerTime" in message and "pass trigger_time=" in message
    assert caught.value.input == "trigger_time"


def test_a_direct_run_with_a_time_runs(module):
    flyte.init()
    run = flyte.run(module.stamped, trigger_time=datetime(2025, 1, 1, 6, 0), x=2)
    assert run.outputs()[0] == "2025-01-01T06:00:00+00:00 x=2"  # in UTC, as a cluster passes it


def test_the_cli_reports_the_missing_time_as_a_usage_error_of_its_option(module, tmp_path):
    path = tmp_path / "trigger_default_tasks.py"
    result = CliRunner().invoke(build_cli(), ["run", str(path), "stamped"], prog_name="flyte")
    assert result.exit_code == 2, result.output
    assert "--trigger-time" in result.output and "flyte.TriggerTime" in result.output
    ok = CliRunner().invoke(
        build_cli(), ["run", str(path), "stamped", "--trigger_time", "2025-01-31T09:30"], prog_name="flyte"
    )
    assert ok.exit_code == 0, ok.output
    assert "2025-01-31T09:30:00+00:00 x=1" in ok.output


def test_a_firing_of_a_trigger_without_a_time_key_fills_the_default_with_the_fire_time(module):
    flyte.init()
    flyte.deploy(module.env)
    (row,) = schedule.list_triggers()
    activated = datetime.fromtimestamp(row["activated_at"], UTC)
    first = next_fire(Cron("0 */6 * * *"), activated, None)
    (fired,) = schedule.fire_due(now=first)
    assert fired[2].outputs()[0] == f"{first.isoformat()} x=1"


def test_the_rendered_cronjob_passes_the_fire_time_to_that_parameter(module):
    from flyte.render.context import RenderContext
    from flyte.render.render import render_task

    objects = render_task(module.stamped, RenderContext())
    (cron,) = [o for o in objects if o["kind"] == "CronJob"]
    env = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "FLYTE_TRIGGER_TIME_INPUTS", "value": "trigger_time"} in env
