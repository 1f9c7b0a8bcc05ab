"""flyte.remote.Task: a deployed task, got by name and version, called from a task or passed to
one (the public example flyte-2/remote.py)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import pytest

import flyte
import flyte.errors
from flyte import remote
from flyte._loader import load_file

PROGRAM = textwrap.dedent(
    """
    import flyte
    from flyte import remote

    env_2 = flyte.TaskEnvironment(name="env_2")
    env_1 = flyte.TaskEnvironment(name="env_1", depends_on=[env_2])


    @env_2.task
    async def remote_task(x: str) -> str:
        return "processed: " + x + SUFFIX


    @env_1.task
    async def main(remote_task: remote.Task) -> str:
        return "main got " + await remote_task(x="Hello")


    SUFFIX = "!"

    if __name__ == "__main__":
        flyte.deploy(env_1)
    """
)


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "deployed_program.py"
    path.write_text(PROGRAM)
    return path


def test_a_task_deployed_by_another_process_is_got_by_name_and_passed_to_a_task(program):
    subprocess.run([sys.executable, str(program)], env=os.environ, check=True, capture_output=True)
    task = remote.Task.get("env_2.remote_task", auto_version="latest")  # loaded from its file here
    assert task.name == "env_2.remote_task" and len(task.version) == 16
    main = load_file(program).main
    assert flyte.run(main, remote_task=task).outputs() == "main got processed: Hello!"
    assert flyte.run(task, x="direct").outputs() == "processed: direct!"
    again = pickle.loads(pickle.dumps(task))  # how it travels as an input: found again by version
    assert (again.name, again.version) == (task.name, task.version)
    assert remote.Task.get("env_2.remote_task", version=task.version) == task
    assert remote.Task.get("env_2.remote_task", auto_version="current") == task


def test_code_changed_since_the_deploy_is_not_run_in_its_place(program):
    module = load_file(program)
    flyte.deploy(module.env_1)
    program.write_text(PROGRAM.replace('"processed: "', '"changed: "'))  # the body only: same config
    with pytest.raises(
        flyte.errors.TaskNotFoundError, match=r"deployed_program.py changed since task 'env_2.remote_task'"
    ):
        remote.Task.get("env_2.remote_task", auto_version="latest")
    with pytest.raises(flyte.errors.TaskNotFoundError, match="the code of task 'env_2.remote_task' here is not"):
        remote.Task.get("env_2.remote_task", auto_version="current")
    subprocess.run([sys.executable, str(program)], env=os.environ, check=True)  # deployed again, changed
    script = "import flyte\nprint(flyte.run(flyte.remote.Task.get('env_2.remote_task', auto_version='latest'), x='x').outputs()[0])"
    out = subprocess.run([sys.executable, "-c", script], env=os.environ, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("changed: x!")  # a fresh process runs the code deployed last


def test_bad_gets_name_what_is_wrong(program):
    with pytest.raises(flyte.errors.TaskNotFoundError, match="no deployment of task 'env_2.remote_task'"):
        remote.Task.get("env_2.remote_task", auto_version="latest")
    flyte.deploy(load_file(program).env_1)
    with pytest.raises(flyte.errors.TaskNotFoundError, match=r"has no version 'v9' \(deployed: [0-9a-f]{16}\)"):
        remote.Task.get("env_2.remote_task", version="v9")
    with pytest.raises(ValueError, match=r"auto_version='newest' is not valid without a version"):
        remote.Task.get("env_2.remote_task", auto_version="newest")
    with pytest.raises(TypeError, match=r"flyte.remote.Task.get\(...\)"):
        flyte.run("env_2.remote_task")


def test_a_task_not_deployed_is_the_reference_sdks_remote_task_not_found_error(tmp_path):
    with pytest.raises(flyte.errors.RemoteTaskNotFoundError, match="no deployment of task 'never.deployed'"):
        flyte.remote.Task.get("never.deployed", auto_version="latest")
