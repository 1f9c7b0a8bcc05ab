"""``flyte run FILE TASK --param VALUE`` for a parameter whose type is a union of several types
(``int | float``, ``str | int``, ``list[int] | int``): the value read as JSON when that is a
value of one of the members, else the text itself when ``str`` is one, as the reference SDK's
``flyte run`` reads it; anything else is a usage error naming the option and the members."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from flyte.cli.main import build_cli

TASKS = textwrap.dedent("""
    import flyte

    env = flyte.TaskEnvironment(name="unions")

    @env.task
    def show(y: int | float, w: str | int = "a", v: list[int] | int = 0, z: float | None = None) -> str:
        return f"{y!r} {w!r} {v!r} {z!r}"
""")


@pytest.fixture
def tasks_file(tmp_path):
    path = tmp_path / "union_tasks.py"
    path.write_text(TASKS)
    return path


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), prog_name="flyte")


@pytest.mark.parametrize(
    "options, printed",
    [
        (["--y", "2"], "2 'a' 0 None"),
        (["--y", "2.5", "--z", "3"], "2.5 'a' 0 3.0"),
        (["--y", "1", "--w", "4"], "1 4 0 None"),  # a JSON int is an int member's value
        (["--y", "1", "--w", "hello"], "1 'hello' 0 None"),
        (["--y", "1", "--v", "[1, 2]"], "1 'a' [1, 2] None"),
        (["--y", "1", "--v", "3"], "1 'a' 3 None"),
    ],
)
def test_a_union_parameter_takes_the_member_its_value_reads_as(tasks_file, options, printed):
    result = invoke("run", str(tasks_file), "show", *options)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == printed


def test_a_value_of_no_member_is_a_usage_error_naming_the_option_and_the_members(tasks_file):
    result = invoke("run", str(tasks_file), "show", "--y", "abc")
    assert result.exit_code == 2
    assert "Invalid value for --y: 'abc' is not a value of int | float" in result.output
    result = invoke("run", str(tasks_file), "show", "--y", "1", "--v", '["x"]')
    assert result.exit_code == 2
    assert "Invalid value for --v" in result.output


RECORDS = textwrap.dedent("""
    import dataclasses, enum
    import flyte

    env = flyte.TaskEnvironment(name="union_records")

    @dataclasses.dataclass
    class Point:
        x: float
        y: float

    class Colour(enum.Enum):
        RED = "red"

    @env.task
    def place(p: Point | int, c: Colour | int = 0, ps: list[Point] | str = "") -> str:
        return f"{p!r} {c!r} {ps!r}"
""")


@pytest.mark.parametrize(
    "options, printed",
    [
        (["--p", '{"x": 1, "y": 2.5}'], "Point(x=1.0, y=2.5) 0 ''"),  # a JSON object is the record's
        (["--p", "3", "--c", '"red"'], "3 <Colour.RED: 'red'> ''"),
        (["--p", "3", "--ps", '[{"x": 1, "y": 2}]'], "3 0 [Point(x=1.0, y=2.0)]"),
        (["--p", "3", "--ps", "[oops"], "3 0 '[oops'"),
    ],
)
def test_a_union_with_a_record_or_enum_member_reads_its_json_as_that_member(tmp_path, options, printed):
    path = tmp_path / "union_records.py"
    path.write_text(RECORDS)
    result = invoke("run", str(path), "place", *options)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == printed


def test_a_json_object_matching_no_record_member_is_a_usage_error_saying_why(tmp_path):
    path = tmp_path / "union_records.py"
    path.write_text(RECORDS)
    result = invoke("run", str(path), "place", "--p", '{"x": 1}')
    assert result.exit_code == 2
    assert "Invalid value for --p" in result.output and "union_records:Point | int" in result.output
    assert "does not match Point" in result.output  # why the record member refused it
