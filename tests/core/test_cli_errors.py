"""A user's mistake on the command line is one clear line on stderr and a non-zero exit, never a
Python traceback; ``--debug``/``-v`` (or ``FLYTE_DEBUG=1``) shows the traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
from cli_process import flyte_cli
from flyte.cli.main import build_cli

FILES = {
    "syntax.py": "import flyte\nenv = flyte.TaskEnvironment(name='e')\n@env.task\ndef f( -> int:\n    return 1\n",
    "imports.py": "import flyte\nimport a_module_that_does_not_exist\n",
    "raises.py": "import flyte\n\nraise RuntimeError('refusing to load at import time')\n",
    "config.py": "import flyte\nenv = flyte.TaskEnvironment(name='e', resources=flyte.Resources(cpu='5 cores'))\n",
}


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("syntax.py", ["SyntaxError", "syntax.py:4"]),
        ("imports.py", ["ModuleNotFoundError", "a_module_that_does_not_exist", "imports.py:2"]),
        ("raises.py", ["RuntimeError: refusing to load at import time", "raises.py:3"]),
        ("config.py", ["cpu: '5 cores' is not a Kubernetes quantity", "config.py:2"]),
    ],
)
@pytest.mark.parametrize("command", ["run", "render"])
def test_a_file_that_does_not_load_is_one_line_naming_the_file_and_line(
    files: Path, name: str, expected: list[str], command: str
):
    assert_one_line(flyte_cli(files, command, name, "f"), *expected)


@pytest.mark.parametrize("flag", ["--debug", "-v"])
def test_debug_shows_the_traceback(files: Path, flag: str):
    result = flyte_cli(files, flag, "run", "raises.py", "f")
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr and "raises.py" in result.stderr


def test_flyte_debug_variable_shows_the_traceback(files: Path):
    result = flyte_cli(files, "run", "imports.py", "f", FLYTE_DEBUG="1")
    assert "Traceback (most recent call last)" in result.stderr


def damage_by_truncating(db: Path) -> None:
    """A real store cut in half: it opens, and the damage shows while reading."""
    from flyte.runtime import store as st

    conn = st.connect(db)
    conn.execute("INSERT INTO runs (name, task, status, created_at) VALUES ('r1', 't', 'SUCCEEDED', 0)")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO actions (run, id, task, status, error) VALUES ('r1', ?, 't', 'FAILED', ?)",
        [(f"a{i}", "x" * 200) for i in range(5000)],
    )
    conn.execute("COMMIT")
    conn.close()
    os.truncate(db, db.stat().st_size // 2)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_run_store_is_one_line_saying_what_to_do(tmp_path: Path, flyte_home: Path, damage: str):
    if damage == "garbage":
        (flyte_home / "runs.db").write_bytes(b"not a database, just text " * 200)
    else:
        damage_by_truncating(flyte_home / "runs.db")
    for args in (("runs", "list"), ("runs", "show", "r1")):
        line = assert_one_line(flyte_cli(tmp_path, *args), "runs.db is damaged", "move it aside")
        assert f"mv {flyte_home / 'runs.db'}" in line


def test_flyte_home_pointing_at_a_file_is_one_line(tmp_path: Path):
    home = tmp_path / "a-file"
    home.write_text("")
    assert_one_line(flyte_cli(tmp_path, "runs", "list", FLYTE_HOME=str(home)), "FLYTE_HOME=", "is not a directory")


env = flyte.TaskEnvironment(name="cli_errors", cache="auto")


@env.task
async def cached(x: int) -> int:
    return x


def test_cache_clear_for_one_task_of_a_damaged_cache_says_what_to_do(flyte_home: Path):
    from flyte._cache.store import get_store, reset_store

    flyte.run(cached, x=1)
    store = get_store()
    reset_store()
    for suffix in ("-wal", "-shm"):
        store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
    store.path.write_bytes(b"garbage" * 500)
    result = CliRunner().invoke(build_cli(), ["cache", "clear", "--task", "cli_errors.cached"])
    assert result.exit_code == 1
    assert "is damaged" in result.output and "run `flyte cache clear` (without --task)" in result.output
    result = CliRunner().invoke(build_cli(), ["cache", "clear"])
    assert result.exit_code == 0 and "removed the cache file" in result.output and "damaged" in result.output
    assert not store.path.exists()
    assert flyte.run(cached, x=2).outputs() == 2
