"""A local run takes an environment-variable secret the store lacks from the environment flyte
was started in (``export OPENAI_API_KEY=...`` then ``python main.py``, as the reference SDK's
local runs do): the store wins when it has the key, the value is masked like any secret's, a
calling task's own variables are not the environment, and a secret found in neither says how
to provide it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import flyte
from flyte.errors import SecretNotFoundError
from flyte.runtime import secret_store

env = flyte.TaskEnvironment(
    name="secret_from_env", secrets=flyte.Secret(key="openai_api_key", as_env_var="EXPORTED_KEY")
)
keyed = flyte.TaskEnvironment(name="secret_from_env_keyed", secrets="exported_token")  # variable: EXPORTED_TOKEN
mounted = flyte.TaskEnvironment(
    name="secret_from_env_mounted", secrets=flyte.Secret(key="exported_file", mount="/etc/flyte/secrets")
)
caller = flyte.TaskEnvironment(
    name="secret_from_env_caller", env_vars={"EXPORTED_KEY": "the caller's own"}, depends_on=[env]
)


@env.task
def key_length() -> int:
    print(f"using {os.environ['EXPORTED_KEY']}")
    return len(os.environ["EXPORTED_KEY"])


@keyed.task
def token() -> str:
    return os.environ["EXPORTED_TOKEN"][:3]


@mounted.task
def file_secret() -> str:
    with open("/etc/flyte/secrets/exported_file") as f:
        return f.read()


@caller.task
def calls() -> int:
    return key_length()


def test_an_exported_variable_provides_a_secret_the_store_lacks(flyte_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EXPORTED_KEY", "sk-exported-value-1")
    monkeypatch.setenv("EXPORTED_TOKEN", "tok-exported-value-2")
    flyte.init()
    run = flyte.run(key_length)
    assert run.outputs() == len("sk-exported-value-1")
    assert flyte.run(token).outputs() == "tok"
    (log,) = (flyte_home / "runs" / run.name / "logs").iterdir()
    assert log.read_text() == "using ***\n"  # masked as a stored secret is


def test_the_store_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EXPORTED_KEY", "sk-exported-value-1")
    secret_store.create("openai_api_key", b"stored")
    flyte.init()
    assert flyte.run(key_length).outputs() == len("stored")


def test_a_secret_in_neither_says_both_ways_to_provide_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("EXPORTED_KEY", raising=False)
    flyte.init()
    with pytest.raises(SecretNotFoundError, match=r"flyte create secret openai_api_key .*set \$EXPORTED_KEY"):
        flyte.run(key_length)


def test_a_calling_tasks_own_variables_are_not_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("EXPORTED_KEY", raising=False)
    flyte.init()
    with pytest.raises(SecretNotFoundError, match="openai_api_key"):
        flyte.run(calls)  # on a cluster the child's pod has none of its caller's variables


def test_a_mounted_secret_comes_from_the_store_only(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EXPORTED_FILE", "not a file")
    flyte.init()
    with pytest.raises(
        SecretNotFoundError, match="flyte create secret exported_file <value>  \\(or --from-file PATH\\)$"
    ):
        flyte.run(file_secret)
