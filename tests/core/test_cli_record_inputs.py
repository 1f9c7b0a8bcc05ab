"""``flyte run FILE TASK --param JSON`` for a parameter whose type is a record: a dataclass, an
attrs class or a pydantic model, alone or inside a list, as the reference SDK's ``flyte run``
takes them (a pydantic ``summary: PredictionSummary`` given as a JSON object)."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from flyte.cli.main import build_cli

TASKS = textwrap.dedent("""
    import dataclasses

    import attrs
    import pydantic

    import flyte

    env = flyte.TaskEnvironment(name="records")

    class Summary(pydantic.BaseModel):
        scores: list[float]
        label: str = "none"

    @dataclasses.dataclass
    class Request:
        a: float
        b: float

    @attrs.define
    class Window:
        start: int
        end: int

    @env.task
    def describe(summary: Summary) -> str:
        return f"{type(summary).__name__} {summary.label} {sum(summary.scores)}"

    @env.task
    def count(summaries: list[Summary]) -> int:
        assert all(isinstance(s, Summary) for s in summaries)
        return len(summaries)

    @env.task
    def predict(request: Request) -> float:
        return 2 * request.a + request.b

    @env.task
    def width(window: Window) -> int:
        return window.end - window.start
""")


@pytest.fixture
def tasks_file(tmp_path):
    path = tmp_path / "record_tasks.py"
    path.write_text(TASKS)
    return path


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), prog_name="flyte")


@pytest.mark.parametrize(
    "task, option, given, printed",
    [
        ("describe", "--summary", {"scores": [1.5, 2.0], "label": "b"}, "Summary b 3.5"),
        ("describe", "--summary", {"scores": [1]}, "Summary none 1.0"),  # the model's own default
        ("count", "--summaries", [{"scores": []}, {"scores": [2]}], "2"),
        ("predict", "--request", {"a": 1, "b": 2}, "4.0"),
        ("width", "--window", {"start": 2, "end": 7}, "5"),
    ],
)
def test_a_record_parameter_takes_a_json_object(tasks_file, task, option, given, printed):
    result = invoke("run", str(tasks_file), task, option, json.dumps(given))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == printed


def test_a_pydantic_object_that_does_not_validate_is_a_usage_error_naming_the_field(tasks_file):
    result = invoke("run", str(tasks_file), "describe", "--summary", '{"scores": ["x"]}')
    assert result.exit_code == 2
    assert "Invalid value for --summary: does not match Summary" in result.output
    assert "scores.0" in result.output  # pydantic's path to the bad item


def test_a_record_parameter_given_text_that_is_not_json_says_so(tasks_file):
    result = invoke("run", str(tasks_file), "describe", "--summary", "scores=1")
    assert result.exit_code == 2
    assert "Invalid value for --summary: 'scores=1' is not valid JSON" in result.output
