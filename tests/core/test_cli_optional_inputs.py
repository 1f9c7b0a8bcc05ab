"""``flyte run FILE TASK`` for an optional input with no default (``corruption: str | None``, as
the pandera tutorial's ``run_cell`` declares): left out, it runs with None, as the reference
SDK's ``flyte run`` does (flyte 2.12.1 prints ``None 0.0 1`` for the task below with
``--rate 0 --seeds 1``); it was a usage error, "Missing option '--corruption'". A Python caller
still has to pass it, in both SDKs."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli

TASKS = textwrap.dedent("""
    from typing import Annotated, Optional

    import flyte

    env = flyte.TaskEnvironment(name="optionals")

    @env.task
    async def run_cell(corruption: str | None, rate: float, seeds: int) -> str:
        return f"{corruption!r} {rate!r} {seeds}"

    @env.task
    def spelled(a: Optional[int], b: Annotated[list[int] | None, "note"], c: int | None = 3) -> str:
        return f"{a!r} {b!r} {c!r}"

    @env.task
    def flagged(verbose: Optional[bool], n: int = 1) -> str:
        return f"verbose={verbose!r} n={n}"
""")


@pytest.fixture
def tasks_file(tmp_path):
    path = tmp_path / "optional_tasks.py"
    path.write_text(TASKS)
    return path


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), prog_name="flyte")


@pytest.mark.parametrize(
    "task, options, printed",
    [
        ("run_cell", ["--rate", "0", "--seeds", "1"], "None 0.0 1"),
        ("run_cell", ["--rate", "0", "--seeds", "1", "--corruption", "nan_reward"], "'nan_reward' 0.0 1"),
        ("spelled", [], "None None 3"),
        ("spelled", ["--a", "1", "--b", "[1, 2]", "--c", "4"], "1 [1, 2] 4"),
        # An optional bool is a flag: left out, None (the reference's prints verbose=None too).
        ("flagged", [], "verbose=None n=1"),
        ("flagged", ["--verbose"], "verbose=True n=1"),
        ("flagged", ["--no-verbose"], "verbose=False n=1"),
    ],
)
def test_an_optional_input_left_out_runs_with_none(tasks_file, task, options, printed):
    result = invoke("run", str(tasks_file), task, *options)
    assert result.exit_code == 0, result.output
    assert printed in result.output


def test_a_required_input_that_cannot_be_none_is_still_required(tasks_file):
    result = invoke("run", str(tasks_file), "run_cell", "--seeds", "1")
    assert result.exit_code == 2 and "Missing option '--rate'" in result.output


def test_a_python_caller_still_passes_it(tasks_file):
    import importlib.util

    spec = importlib.util.spec_from_file_location("optional_tasks_mod", tasks_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flyte.init()
    with pytest.raises(TypeError, match="missing a required argument: 'corruption'"):
        flyte.run(module.run_cell, rate=0.5, seeds=1)


def test_the_help_shows_none_for_an_optional_input_left_out(tasks_file):
    for task, line in [("spelled", "--a INTEGER"), ("flagged", "--verbose / --no-verbose")]:
        result = invoke("run", str(tasks_file), task, "--help")
        assert result.exit_code == 0, result.output
        shown = next(row for row in result.output.splitlines() if row.strip().startswith(line))
        assert "NO_DEFAULT" not in result.output and "[default: verbose]" not in shown, shown
