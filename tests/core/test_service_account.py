"""``service_account``: the Kubernetes ServiceAccount a task's pods run as, set on the
environment, the decorator, an override or a whole cluster run, checked where it is given."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli

env = flyte.TaskEnvironment(name="sa_env", service_account="etl-runner")


@env.task
async def inherits(x: int) -> int:
    return x + 1


@env.task(service_account="warehouse-writer")
async def own(x: int) -> int:
    return x * 2


def test_the_most_specific_level_wins_and_reads_back():
    assert env.service_account == "etl-runner"
    assert inherits.spec.service_account == "etl-runner"
    assert own.spec.service_account == "warehouse-writer"
    assert inherits.override(service_account="gcs-reader").spec.service_account == "gcs-reader"
    assert inherits.spec.service_account == "etl-runner"  # the original is untouched
    assert env.clone_with(name="sa_copy").service_account == "etl-runner"
    assert flyte.TaskEnvironment(name="plain").service_account is None


def test_the_spec_round_trips_through_its_dict():
    spec = own.spec
    assert type(spec).from_dict(spec.to_dict()).service_account == "warehouse-writer"


def test_a_local_run_runs_as_the_user_whatever_the_account():
    assert flyte.run(own, 4).outputs() == 8
    assert flyte.with_runcontext(service_account="run-wide").run(inherits, 1).outputs() == 2


@pytest.mark.parametrize("value", ["Spark_Driver", "-lead", "a" * 254, "has space", "ümlaut"])
def test_a_bad_name_is_refused_naming_the_parameter_value_and_rule(value):
    makers = [
        lambda: flyte.TaskEnvironment(name="bad", service_account=value),
        lambda: env.task(service_account=value),
        lambda: inherits.override(service_account=value),
        lambda: flyte.with_runcontext(service_account=value),
    ]
    for make in makers:
        with pytest.raises(ValueError) as raised:
            make()
        message = str(raised.value)
        assert "service_account" in message and repr(value)[:40] in message
        assert "lower-case letters, digits, '-' or '.'" in message


def test_a_value_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match=r"service_account: expected a str, got int 5"):
        flyte.TaskEnvironment(name="bad", service_account=5)


SCRIPT = textwrap.dedent("""
    import flyte
    env = flyte.TaskEnvironment(name="cli_sa")

    @env.task
    def double(x: int) -> int:
        return 2 * x
""")


def test_flyte_run_takes_a_service_account_and_checks_it(tmp_path):
    script = tmp_path / "tasks.py"
    script.write_text(SCRIPT)
    ok = CliRunner().invoke(build_cli(), ["run", "--service-account", "etl-runner", str(script), "double", "--x", "3"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == "6"
    bad = CliRunner().invoke(build_cli(), ["run", str(script), "double", "--x", "3", "--service-account", "Bad_Name"])
    assert bad.exit_code != 0
    assert "service_account" in bad.output and "'Bad_Name'" in bad.output
    assert "Traceback" not in bad.output
