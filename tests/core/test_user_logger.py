"""``flyte.logger`` in task code prints as the reference SDK's does: INFO and above, as
``LEVEL message`` on stderr, kept in the attempt's log with secrets masked, once per line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import flyte
from cli_process import flyte_cli
from flyte import _logging
from flyte.runtime import secret_store

TASKS = """
import os

import flyte

env = flyte.TaskEnvironment(name="logs_user", secrets=flyte.Secret(key="user_log_token", as_env_var="TOKEN"))


@env.task
def submit(n: int) -> int:
    flyte.logger.debug("not shown at the default level")
    flyte.logger.info(f"Submitted batch job {n}")
    flyte.logger.warning(f"with token {os.environ['TOKEN']}")
    return n
"""


def test_info_lines_reach_the_terminal_and_the_log_masked(tmp_path: Path):
    secret_store.create("user_log_token", b"user-log-token-value")
    (tmp_path / "tasks.py").write_text(TASKS)
    done = flyte_cli(tmp_path, "run", "tasks.py", "submit", "--n", "7")
    assert done.returncode == 0, done.stderr
    assert "INFO Submitted batch job 7\n" in done.stderr
    assert "WARNING with token ***\n" in done.stderr and "user-log-token-value" not in done.stderr
    assert "not shown" not in done.stderr
    assert done.stderr.count("Submitted batch job 7") == 1  # not also through the root logger
    run = next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("run ") and "succeeded" in line)
    kept = flyte_cli(tmp_path, "logs", run, "a0")
    assert "INFO Submitted batch job 7" in kept.stdout and "WARNING with token ***" in kept.stdout


def test_user_log_level_sets_the_level(tmp_path: Path):
    secret_store.create("user_log_token", b"user-log-token-value")
    (tmp_path / "tasks.py").write_text(TASKS)
    quiet = flyte_cli(tmp_path, "run", "tasks.py", "submit", "--n", "1", USER_LOG_LEVEL="warning")
    assert quiet.returncode == 0 and "Submitted" not in quiet.stderr and "WARNING with token ***" in quiet.stderr
    loud = flyte_cli(tmp_path, "run", "tasks.py", "submit", "--n", "1", USER_LOG_LEVEL="DEBUG")
    assert "DEBUG not shown at the default level" in loud.stderr


def test_a_bad_user_log_level_names_what_is_accepted():
    with pytest.warns(
        UserWarning, match=r"USER_LOG_LEVEL: 'loud' is not a log level \(accepted: critical, .*or a number\)"
    ):
        assert _logging.user_level("loud") == logging.INFO
    assert _logging.user_level("10") == logging.DEBUG and _logging.user_level(" Error ") == logging.ERROR


def test_it_writes_to_the_stderr_of_the_moment(capsys: pytest.CaptureFixture[str]):
    flyte.logger.info("captured where the test reads")
    assert capsys.readouterr().err == "INFO captured where the test reads\n"
    assert flyte.logger.name == "flyte.user" and flyte.system_logger.name == "flyte"
