"""A user's file named like a standard-library module runs.

`flyte run json.py add` loads that file, not the stdlib's json; the guide's secrets example
saved as secrets.py works with `flyte run` and with `python secrets.py`. The root of it: the
user's folder goes on sys.path after the standard library, in the CLI and in worker processes,
so nothing the library imports (at the top of a module or inside a function) can be replaced
by a user's file. `python json.py` (or random.py, logging.py) cannot work and is not tried:
Python puts a script's folder first on sys.path, so every library that imports json (flyte
does; so does asyncio's logging, tempfile's random) gets the script instead.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flyte

CORE = Path(flyte.__file__).resolve().parent
FLYTE = str(Path(sys.executable).with_name("flyte"))

TASKS = textwrap.dedent("""
    import asyncio
    import os
    import flyte

    env = flyte.TaskEnvironment(
        name="env_{stem}",
        secrets=[flyte.Secret(key="my_secret", as_env_var="MY_SECRET_ENV_VAR")],
        cache="auto",
    )

    @env.task
    def double(x: int) -> int:
        return 2 * x

    @env.task(report=True)
    async def add(x: int, y: int = 1) -> int:
        assert os.getenv("MY_SECRET_ENV_VAR") == "hello", "the secret reached the task"
        doubled = await asyncio.gather(*(asyncio.to_thread(double, i) for i in range(2)))
        return x + y + sum(doubled)

    if __name__ == "__main__":
        flyte.init()
        print(flyte.run(add, x=2).outputs()[0])
""")

# The guide's own example (Configure tasks > Secrets), saved as secrets.py.
GUIDE_SECRETS = textwrap.dedent("""
    import os
    import flyte

    env_1 = flyte.TaskEnvironment(
        name="env_1",
        secrets=[
            flyte.Secret(key="my_secret", as_env_var="MY_SECRET_ENV_VAR"),
        ]
    )

    @env_1.task
    def task_1():
        my_secret_value = os.getenv("MY_SECRET_ENV_VAR")
        print(f"My secret value is: {my_secret_value}")

    env_2 = flyte.TaskEnvironment(
        name="env_2",
        secrets=[
            flyte.Secret(key="my_secret", mount="/etc/flyte/secrets"),
        ]
    )

    @env_2.task
    def task_2():
        with open("/etc/flyte/secrets/my_secret", "r") as f:
            my_secret_file_content = f.read()
        print(f"My secret file content is: {my_secret_file_content}")

    if __name__ == "__main__":
        flyte.init()
        for task in (task_1, task_2):
            run = flyte.run(task)
            print("finished", run.name)
""")


def _run(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "FLYTE_HOME": str(home)}
    environ.pop("PYTHONPATH", None)
    return subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=240, check=False)


@pytest.fixture
def home_with_secret(flyte_home: Path) -> Path:
    created = _run([FLYTE, "create", "secret", "my_secret", "hello"], flyte_home, flyte_home)
    assert created.returncode == 0, created.stderr
    return flyte_home


@pytest.mark.parametrize("stem", ["json", "random", "secrets", "logging"])
def test_flyte_run_loads_a_file_named_like_a_stdlib_module(stem, tmp_path, home_with_secret):
    folder = tmp_path / stem
    folder.mkdir()
    (folder / f"{stem}.py").write_text(TASKS.replace("{stem}", stem))
    result = _run([FLYTE, "run", f"{stem}.py", "add", "--x", "2"], folder, home_with_secret)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5"


def test_the_guides_secrets_example_runs_as_secrets_py_both_ways(tmp_path, home_with_secret):
    (tmp_path / "secrets.py").write_text(GUIDE_SECRETS)
    as_script = _run([sys.executable, "secrets.py"], tmp_path, home_with_secret)
    assert as_script.returncode == 0, as_script.stderr
    assert as_script.stdout.count("finished r") == 2
    for task in ("task_1", "task_2"):
        with_cli = _run([FLYTE, "run", "secrets.py", task], tmp_path, home_with_secret)
        assert with_cli.returncode == 0, with_cli.stderr
        assert "succeeded" in with_cli.stderr


def test_the_library_never_imports_the_secrets_module():
    """`python secrets.py` puts the script's folder first on sys.path, so any `import secrets`
    in the library would import the user's script (the guide's own example) instead."""
    assert "secrets" not in _stdlib_modules_core_imports()


def _stdlib_modules_core_imports() -> set[str]:
    """Every standard-library module any core module imports, at the top or in a function."""
    names: set[str] = set()
    for source in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return {n for n in names if n in sys.stdlib_module_names and n != "__future__"}


def test_no_stdlib_module_the_library_imports_can_be_replaced_by_a_users_file(tmp_path, home_with_secret):
    decoys = _stdlib_modules_core_imports()
    assert {"json", "ctypes", "difflib", "tempfile", "zoneinfo"} <= decoys  # lazy ones included
    folder = tmp_path / "project"
    folder.mkdir()
    for name in decoys | {"random", "logging", "secrets"}:
        (folder / f"{name}.py").write_text(f"raise ImportError('the user\\'s {name}.py was imported by the library')\n")
    (folder / "project_tasks.py").write_text(TASKS.replace("{stem}", "decoyed"))
    ran = _run([FLYTE, "run", "project_tasks.py", "add", "--x", "2"], folder, home_with_secret)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "5"
    rendered = _run([FLYTE, "render", "project_tasks.py", "env_decoyed"], folder, home_with_secret)
    assert rendered.returncode == 0, rendered.stderr


def test_a_file_named_like_a_stdlib_module_cannot_be_rendered_and_says_why(tmp_path, home_with_secret):
    (tmp_path / "json.py").write_text(TASKS.replace("{stem}", "json"))
    result = _run([FLYTE, "render", "json.py", "add"], tmp_path, home_with_secret)
    assert result.returncode == 1
    assert "is named like the module 'json'" in result.stderr and "rename the file" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_loader_keeps_the_standard_library_ahead_of_the_users_folder(tmp_path, monkeypatch):
    from flyte._loader import PRIVATE_PREFIX, load_file
    from flyte._syspath import is_stdlib

    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "secrets.py").write_text("import flyte\nVALUE = 'mine'\n")
    module = load_file(tmp_path / "secrets.py")
    assert module.__name__ == PRIVATE_PREFIX + "secrets" and module.VALUE == "mine"
    import secrets

    assert hasattr(secrets, "token_hex")  # the real one
    position = sys.path.index(str(tmp_path))
    assert all(not is_stdlib(entry) for entry in sys.path[position:])
