"""One command-line convention: ``-o/--output FORMAT`` everywhere (``--json`` = ``-o json``),
run options before FILE or after FILE TASK, and usage hints that name a real command."""

from __future__ import annotations

import json
import os
import textwrap

import pytest
import yaml
from click.testing import CliRunner

from flyte.cli.main import build_cli

TASKS = textwrap.dedent("""
    import os
    import flyte

    env = flyte.TaskEnvironment(name="conventions")

    @env.task
    def greet(who: str) -> str:
        return f"hello {who} {os.environ.get('GREETING_MARK', '-')}"

    @env.task
    def named(name: str = "param") -> str:
        return name
""")


@pytest.fixture
def tasks_file(tmp_path):
    path = tmp_path / "convention_tasks.py"
    path.write_text(TASKS)
    return path


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), prog_name="flyte")


@pytest.mark.parametrize("command", [["plugins"], ["runs", "list"]])
def test_dash_o_json_and_the_json_alias_print_the_same(command):
    by_option = invoke(*command, "-o", "json")
    by_alias = invoke(*command, "--json")
    assert by_option.exit_code == 0 and by_alias.exit_code == 0, by_option.output + by_alias.output
    assert json.loads(by_option.output) == json.loads(by_alias.output)


def test_render_takes_the_same_output_option(tasks_file):
    as_yaml = yaml.safe_load(invoke("render", str(tasks_file), "greet").output)
    as_json = json.loads(invoke("render", str(tasks_file), "greet", "-o", "json").output)
    assert as_json == as_yaml == json.loads(invoke("render", str(tasks_file), "greet", "--json").output)
    clash = invoke("render", str(tasks_file), "greet", "-o", "yaml", "--json")
    assert clash.exit_code == 2 and "--json contradicts -o yaml" in clash.output
    bad = invoke("plugins", "-o", "xml")
    assert bad.exit_code == 2 and "'xml' is not one of 'table', 'json'" in bad.output


def test_run_options_are_accepted_after_file_and_task(tasks_file):
    after = invoke("run", str(tasks_file), "greet", "--who", "ann", "--name", "after-run", "--env", "GREETING_MARK=!")
    assert after.exit_code == 0, after.output
    assert "hello ann !" in after.output and "run after-run succeeded" in after.output
    before = invoke("run", "--env", "GREETING_MARK=?", str(tasks_file), "greet", "--who", "bo")
    assert before.exit_code == 0 and "hello bo ?" in before.output
    assert "GREETING_MARK" not in os.environ  # the run's env vars stay inside the run


def test_a_task_parameter_wins_over_a_run_option_of_the_same_name(tasks_file):
    result = invoke("run", "--name", "the-run", str(tasks_file), "named", "--name", "the-param")
    assert result.exit_code == 0, result.output
    assert "the-param" in result.output and "run the-run succeeded" in result.output


def test_usage_errors_name_a_command_that_exists(tasks_file, monkeypatch):
    monkeypatch.chdir(tasks_file.parent)
    result = invoke("run", tasks_file.name, "greet")
    assert result.exit_code == 2
    assert "Missing option '--who'" in result.output
    assert "Try 'flyte run convention_tasks.py greet --help' for help." in result.output
    helped = invoke("run", str(tasks_file), "greet", "--help")
    assert helped.exit_code == 0 and "--who TEXT" in helped.output and "--env KEY=VALUE" in helped.output


FLAGGED = textwrap.dedent("""
    import flyte

    env = flyte.TaskEnvironment(name="spelled")

    @env.task
    def scaled(batch_size: int, dry_run: bool = False) -> str:
        return f"batch={batch_size} dry={dry_run}"

    @env.task
    def labelled(strict: bool, label: str) -> str:
        return f"label={label} strict={strict!r}"
""")


@pytest.fixture
def flagged_file(tmp_path):
    path = tmp_path / "spelled_tasks.py"
    path.write_text(FLAGGED)
    return path


@pytest.mark.parametrize(
    "args, shown",
    [
        (["--batch-size", "3"], "batch=3 dry=False"),
        (["--batch_size", "4", "--dry_run"], "batch=4 dry=True"),  # the reference SDK's spelling
        (["--batch_size", "5", "--dry-run", "--no-dry_run"], "batch=5 dry=False"),
    ],
)
def test_task_options_take_the_parameter_name_as_the_reference_spells_it(flagged_file, args, shown):
    result = invoke("run", str(flagged_file), "scaled", *args)
    assert result.exit_code == 0, result.output
    assert shown in result.output


@pytest.mark.parametrize(
    "args, shown",
    [
        ([], "strict=False"),
        (["--strict"], "strict=True"),
        (["--no-strict"], "strict=False"),
    ],
)
def test_a_bool_parameter_without_default_is_a_flag_that_defaults_to_false(flagged_file, args, shown):
    # As the reference SDK's `flyte run`: `--use_x` sets it, leaving it out is False, not a
    # "Missing option" error.
    result = invoke("run", str(flagged_file), "labelled", "--label", "a", *args)
    assert result.exit_code == 0, result.output
    assert f"label=a {shown}" in result.output


def test_a_bool_flag_takes_no_value(flagged_file):
    result = invoke("run", str(flagged_file), "labelled", "--label", "a", "--strict", "false")
    assert result.exit_code == 2 and "unexpected extra argument (false)" in result.output


def test_run_local_is_accepted_before_file_and_after_task(flagged_file):
    before = invoke("run", "--local", str(flagged_file), "scaled", "--batch_size", "1")
    after = invoke("run", str(flagged_file), "scaled", "--batch_size", "2", "--local")
    assert before.exit_code == 0 and "batch=1" in before.output, before.output
    assert after.exit_code == 0 and "batch=2" in after.output, after.output


def test_run_local_runs_here_when_a_cluster_was_chosen(flagged_file, monkeypatch):
    import attrs

    from flyte.runtime import settings

    monkeypatch.setattr(settings, "_current", attrs.evolve(settings.current(), backend="kubernetes"))
    result = invoke("run", "--local", str(flagged_file), "scaled", "--batch_size", "6")
    assert result.exit_code == 0, result.output
    assert "batch=6" in result.output and settings.current().backend == "local"


TABLES = textwrap.dedent("""
    import dataclasses
    import flyte

    env = flyte.TaskEnvironment(name="shown")

    @dataclasses.dataclass
    class Table:
        rows: list[int]

        def __str__(self) -> str:
            return "shape: (2,)\\n┌──┐\\n" + "\\n".join(f"│{r} │" for r in self.rows)

    @env.task
    def table() -> Table:
        return Table([1, 2])

    @env.task
    def numbers() -> dict[str, list[int]]:
        return {"a": [1, 2]}
""")


def test_run_prints_a_value_as_its_text_and_json_types_as_json(tmp_path):
    path = tmp_path / "shown_tasks.py"
    path.write_text(TABLES)
    table = invoke("run", str(path), "table")
    assert table.exit_code == 0, table.output
    assert "shape: (2,)\n┌──┐\n│1 │\n│2 │\n" in table.output  # the table itself, not a JSON string of it
    numbers = invoke("run", str(path), "numbers")
    assert numbers.exit_code == 0 and '{\n  "a": [\n    1,\n    2\n  ]\n}' in numbers.output
