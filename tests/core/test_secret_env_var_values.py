"""A secret delivered as an environment variable is delivered whole or refused at the task's
start, naming the secret, its size and what to do: a value that is not UTF-8 (an environment
variable of a task is text; replacing its bad bytes would hand the task a different secret)
and one too long for Linux's per-variable limit (every process the task starts would fail
with E2BIG) are refused with the advice to mount the secret as a file, which holds any bytes.
The error never holds the value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import flyte
from flyte.errors import ConfigurationError
from flyte.runtime import secret_store
from flyte.runtime.secrets_runtime import MAX_ENV_VAR_BYTES

NOT_UTF8 = b"\xff\xfe-s3cr3t-\x80"

as_env = flyte.TaskEnvironment(name="env_var_values", secrets=flyte.Secret(key="binary_key", as_env_var="BINARY"))
as_file = flyte.TaskEnvironment(
    name="env_var_values_file", secrets=flyte.Secret(key="binary_key", mount="/etc/flyte/secrets")
)
big = flyte.TaskEnvironment(name="env_var_values_big", secrets=flyte.Secret(key="big_key", as_env_var="BIG"))
ran: list[str] = []


@as_env.task
def reads_env() -> int:
    ran.append("reads_env")
    return len(os.environ["BINARY"])


@as_file.task
def reads_file() -> bytes:
    with open("/etc/flyte/secrets/binary_key", "rb") as f:
        return f.read()


@big.task
def starts_a_process() -> int:
    ran.append("starts_a_process")
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(len(os.environ['BIG']))"], capture_output=True, text=True, check=True
    )
    return int(child.stdout)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ran.clear()
    flyte.init()


def test_a_secret_that_is_not_utf8_is_refused_as_an_env_var_naming_it_and_the_way_out():
    secret_store.create("binary_key", NOT_UTF8)
    with pytest.raises(ConfigurationError) as info:
        flyte.run(reads_env)
    message = str(info.value)
    assert "'binary_key'" in message and "$BINARY" in message
    assert "not UTF-8" in message and "mount=" in message
    assert "s3cr3t" not in message and "\ufffd" not in message
    assert ran == []  # refused at the start: the body never saw a corrupted value


def test_the_same_bytes_mounted_as_a_file_arrive_exact():
    secret_store.create("binary_key", NOT_UTF8)
    assert flyte.run(reads_file).outputs() == NOT_UTF8


def test_a_non_utf8_value_exported_in_the_environment_is_refused_the_same_way(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BINARY", os.fsdecode(NOT_UTF8))  # (what a shell's `export` of those bytes gives)
    with pytest.raises(ConfigurationError, match=r"'binary_key'.*not UTF-8") as info:
        flyte.run(reads_env)
    assert "s3cr3t" not in str(info.value)


def test_a_utf8_secret_still_arrives_as_text():
    secret_store.create("binary_key", "naïve-☃".encode())
    assert flyte.run(reads_env).outputs() == len("naïve-☃")


def test_a_secret_over_the_per_variable_limit_is_refused_with_its_size_and_the_limit():
    secret_store.create("big_key", b"x" * 200_000)
    with pytest.raises(ConfigurationError) as info:
        flyte.run(starts_a_process)
    message = str(info.value)
    assert "'big_key'" in message and "$BIG" in message
    assert "200000 bytes" in message and f"{MAX_ENV_VAR_BYTES} bytes" in message and "E2BIG" in message
    assert "mount=" in message and "xxxx" not in message
    assert ran == []


def test_a_secret_just_within_the_limit_reaches_the_processes_the_task_starts():
    fits = MAX_ENV_VAR_BYTES - len("BIG=") - 1  # the variable as the kernel counts it: NAME=value and a NUL
    secret_store.create("big_key", b"x" * fits)
    assert flyte.run(starts_a_process).outputs() == fits


def test_a_connector_is_not_handed_a_corrupted_secret_either():
    """A connector gets its task's secrets as text (ConnectorContext.secrets): a value that is
    not UTF-8 is refused naming the secret, not handed over with its bad bytes replaced."""
    from flyte.runtime import connectors, settings

    secret_store.create("binary_key", NOT_UTF8)
    with pytest.raises(ConfigurationError, match=r"'binary_key'.*not UTF-8") as info:
        connectors.task_secrets(reads_env.spec, settings.current())
    assert "s3cr3t" not in str(info.value)
    secret_store.create("binary_key", "naïve".encode())
    assert connectors.task_secrets(reads_env.spec, settings.current()) == {"binary_key": "naïve"}


pooled = flyte.TaskEnvironment(
    name="env_var_values_pool",
    secrets=flyte.Secret(key="binary_key", as_env_var="BINARY"),
    reusable=flyte.ReusePolicy(replicas=1, concurrency=1, idle_ttl=30),
)


@pooled.task
def reads_env_in_a_worker() -> int:
    return len(os.environ["BINARY"])


def test_a_reusable_environments_worker_is_not_handed_a_corrupted_secret():
    secret_store.create("binary_key", NOT_UTF8)
    with pytest.raises(ConfigurationError, match=r"'binary_key'.*not UTF-8.*mount="):
        flyte.run(reads_env_in_a_worker)
    secret_store.create("binary_key", b"fine")
    assert flyte.run(reads_env_in_a_worker).outputs() == 4
