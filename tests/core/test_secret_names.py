"""Project, domain, secret keys and groups are names: nothing given to the CLI, ``flyte.init``
or ``flyte.Secret`` reaches a file outside the secret store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
import flyte.errors
from flyte.cli.main import build_cli
from flyte.runtime import secret_store

TRAVERSAL = "../../../../../../../../etc"


def cli(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def deep_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state root a few levels down a private folder, so an escape would land in that folder."""
    home = tmp_path / "a" / "b" / "home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    return home


@pytest.mark.parametrize("option", ["--project", "--domain"])
def test_cli_refuses_a_scope_that_is_not_a_name_and_writes_nothing(deep_home: Path, tmp_path: Path, option: str):
    before = listing(tmp_path)
    result = cli("create", "secret", "k", "v", option, "../../../../x")
    assert result.exit_code == 2
    assert option in result.output and "'../../../../x' is not valid" in result.output
    assert listing(tmp_path) == before


def test_cli_get_secret_cannot_list_a_folder_outside_the_store(deep_home: Path):
    result = cli("get", "secret", "--project", TRAVERSAL)
    assert result.exit_code == 2 and "--project" in result.output
    assert "passwd" not in result.output and "hostname" not in result.output


@pytest.mark.parametrize("command", [["create", "secret", "../k", "v"], ["delete", "secret", "../k"]])
def test_cli_refuses_a_secret_name_with_a_separator(command: list[str]):
    result = cli(*command)
    assert result.exit_code == 2 and "'NAME'" in result.output and "'../k' is not valid" in result.output


@pytest.mark.parametrize("param", ["project", "domain"])
@pytest.mark.parametrize("value", [TRAVERSAL, "a/b", "a\nb", "x" * 300, ".hidden"])
def test_flyte_init_refuses_a_scope_that_is_not_a_name(param: str, value: str):
    with pytest.raises(flyte.errors.ConfigurationError, match=f"^{param}: ") as caught:
        flyte.init(**{param: value})
    assert "accepted: letters, digits" in str(caught.value)


def test_init_from_config_refuses_a_project_that_is_not_a_name(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"task:\n  project: '{TRAVERSAL}'\n")
    with pytest.raises(flyte.errors.ConfigurationError, match="^project: "):
        flyte.init_from_config(config)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"key": "k", "group": "../x"}, "Secret.group"),
        ({"key": "k", "group": "a\nb"}, "Secret.group"),
        ({"key": "k", "group": ""}, "Secret.group"),
        ({"key": "a" * 5000}, "Secret.key"),
        ({"key": "ab\n"}, "Secret.key"),
        ({"key": "../hostname"}, "Secret.key"),
        ({"key": ""}, "Secret.key"),
    ],
)
def test_secret_key_and_group_are_names_checked_at_definition(kwargs: dict, param: str):
    with pytest.raises(flyte.errors.ConfigurationError, match=f"^{param}: ") as caught:
        flyte.Secret(**kwargs)
    assert "at most 253 characters" in str(caught.value)


def test_a_long_key_is_reported_by_its_length_not_printed_whole():
    with pytest.raises(flyte.errors.ConfigurationError, match="is 5000 characters long") as caught:
        flyte.Secret(key="a" * 5000)
    assert len(str(caught.value)) < 300


def test_a_run_name_is_a_name_too():
    with pytest.raises(flyte.errors.ConfigurationError, match="^name: '../escape' is not valid"):
        flyte.with_runcontext(name="../escape")


env = flyte.TaskEnvironment(name="names", secrets=[flyte.Secret(key="hostname")])


@env.task
def secret_length() -> int:
    return len(os.environ["HOSTNAME"])


def test_the_store_refuses_bad_scopes_even_when_called_directly(deep_home: Path):
    for call in (
        lambda: secret_store.get("hostname", TRAVERSAL, None),
        lambda: secret_store.create("k", b"v", None, "../x"),
        lambda: secret_store.list_names(TRAVERSAL),
        lambda: secret_store.delete("../k"),
    ):
        with pytest.raises(flyte.errors.ConfigurationError):
            call()
    assert not (deep_home.parent / "x").exists()


def test_a_symlink_planted_in_the_store_is_not_followed_outside_it(deep_home: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.write_text("not a secret of the store")
    secret_store.create("placeholder", b"v")
    (deep_home / "secrets" / "_org" / "hostname").symlink_to(outside)
    with pytest.raises(flyte.errors.StateError, match="outside the state root"):
        secret_store.get("hostname")
    flyte.init()
    with pytest.raises(flyte.errors.StateError):
        flyte.run(secret_length)
