"""``flyte run FILE TASK --input PATH`` for a ``File``/``Dir`` input, as a user passes data the
public examples read (``run_fold --msa msa.txt``): a local path must exist and become a
reference the task opens; a storage URL is taken as it is."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from flyte.cli.main import build_cli

TASKS = textwrap.dedent("""
    import flyte
    from flyte.io import Dir, File

    env = flyte.TaskEnvironment(name="file_inputs")

    @env.task
    def first_line(sequence: str, msa: File) -> list[str]:
        with msa.open_sync("r") as f:
            return [f.read().splitlines()[0], sequence]

    @env.task
    async def count(d: Dir) -> int:
        n = 0
        async for _ in d.walk():
            n += 1
        return n

    @env.task
    def maybe(f: File | None = None) -> str:
        return "none" if f is None else f.path
""")


@pytest.fixture
def tasks_file(tmp_path):
    path = tmp_path / "file_input_tasks.py"
    path.write_text(TASKS)
    return path


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), ["run", *args], prog_name="flyte")


def test_a_local_file_path_becomes_a_file_the_task_reads(tasks_file, tmp_path):
    msa = tmp_path / "msa.txt"
    msa.write_text("MSA-CONTENT\nsecond\n")
    result = invoke(str(tasks_file), "first_line", "--sequence", "AAGG", "--msa", str(msa))
    assert result.exit_code == 0, result.output
    printed = result.output.split(" succeeded\n", 1)[1].rsplit("\nrun ", 1)[0]
    assert json.loads(printed) == ["MSA-CONTENT", "AAGG"]


def test_a_relative_path_is_taken_from_the_working_directory(tasks_file, tmp_path, monkeypatch):
    (tmp_path / "rel.txt").write_text("REL\n")
    monkeypatch.chdir(tmp_path)
    result = invoke(str(tasks_file), "maybe", "--f", "rel.txt")
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "rel.txt") in result.output  # the absolute path: the task may run elsewhere


def test_a_local_folder_becomes_a_dir(tasks_file, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    for name in ("a.csv", "b.csv"):
        (folder / name).write_text("id\n1\n")
    result = invoke(str(tasks_file), "count", "--d", str(folder))
    assert result.exit_code == 0, result.output
    assert "\n2\n" in result.output


def test_an_optional_file_left_out_keeps_its_default(tasks_file):
    result = invoke(str(tasks_file), "maybe")
    assert result.exit_code == 0, result.output
    assert "none" in result.output


def test_a_storage_url_is_passed_as_it_is(tasks_file):
    result = invoke(str(tasks_file), "maybe", "--f", "s3://bucket/data/msa.txt")
    assert result.exit_code == 0, result.output
    assert "s3://bucket/data/msa.txt" in result.output


@pytest.mark.parametrize(
    ("task", "option", "make", "what"),
    [
        ("first_line", "--msa", lambda p: p / "missing.txt", "file"),
        ("first_line", "--msa", lambda p: p, "file"),  # a folder where a file is expected
        ("count", "--d", lambda p: p / "missing", "folder"),
    ],
)
def test_a_path_that_is_not_there_is_a_usage_error_naming_option_value_and_accepted(
    tasks_file, tmp_path, task, option, make, what
):
    bad = str(make(tmp_path))
    extra = ["--sequence", "AA"] if task == "first_line" else []
    result = invoke(str(tasks_file), task, *extra, option, bad)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}" in result.output
    assert repr(bad) in result.output
    assert f"not an existing {what}" in result.output and "s3://bucket/key" in result.output
    assert "Traceback" not in result.output
