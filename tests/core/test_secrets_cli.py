"""`flyte create/get/delete secret`: scopes, lookup order, and values never printed."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

import flyte
import flyte.errors
from flyte.cli.main import build_cli

env = flyte.TaskEnvironment(name="secret_cli", secrets=[flyte.Secret("db_password", as_env_var="DB_PASSWORD")])


@env.task
def read_password() -> str:
    return os.environ["DB_PASSWORD"][:2]  # proves which scope won without returning the secret


def cli(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def test_scopes_and_the_most_specific_value_wins():
    assert cli("create", "secret", "db_password", "gl-global").exit_code == 0
    assert cli("create", "secret", "db_password", "pr-project", "--project", "shop").exit_code == 0
    made = cli("create", "secret", "db_password", "pd-both", "--project", "shop", "--domain", "production")
    assert made.exit_code == 0 and "pd-both" not in made.output  # the value is never echoed

    flyte.init()
    assert flyte.run(read_password).outputs() == "gl"
    flyte.init(project="shop")
    assert flyte.run(read_password).outputs() == "pr"
    flyte.init(project="shop", domain="production")
    assert flyte.run(read_password).outputs() == "pd"

    listed = cli("get", "secret", "--project", "shop", "--domain", "production")
    assert listed.output.split() == ["db_password"]
    assert cli("delete", "secret", "db_password", "--project", "shop", "--domain", "production").exit_code == 0
    assert flyte.run(read_password).outputs() == "pr"  # falls back to the project scope


def test_errors_name_what_is_wrong():
    assert "give either VALUE or --from-file" in cli("create", "secret", "x").output
    bad = cli("create", "secret", "not a name!", "v")
    assert bad.exit_code != 0 and "not a name!" in bad.output
    missing = cli("delete", "secret", "nope")
    assert missing.exit_code != 0 and "nope" in missing.output
    flyte.init()
    with pytest.raises(flyte.errors.SecretNotFoundError, match="flyte create secret db_password"):
        flyte.run(read_password)


@pytest.mark.parametrize(
    "args",
    [
        ["NAME", "--S3cret-value"],  # looks like an option: click said "No such option: --S3cret-value"
        ["NAME", "--S3cret-value", "--project", "shop"],
        ["NAME", "my", "S3cret-value"],  # an unquoted space: "Got unexpected extra argument (S3cret-value)"
        ["NAME", "one", "--value", "S3cret-value"],
    ],
)
def test_no_usage_error_echoes_the_value(args):
    result = cli("create", "secret", *args)
    assert result.exit_code == 2, result.output
    assert "S3cret" not in result.output
    assert "not shown" in result.output or "give the value once" in result.output
    from flyte.runtime import secret_store

    with pytest.raises(flyte.errors.SecretNotFoundError):
        secret_store.get("NAME", None, None)


def test_a_value_that_starts_with_a_dash_can_be_given():
    from flyte.runtime import secret_store

    for args in (["--value=--S3cret"], ["--", "--S3cret"], ["--value", "--S3cret"]):
        made = cli("create", "secret", "dashed", *args)
        assert made.exit_code == 0 and "S3cret" not in made.output, made.output
        assert secret_store.get("dashed", None, None) == b"--S3cret"


def test_the_value_is_read_from_standard_input_when_not_given():
    from flyte.runtime import secret_store

    made = CliRunner().invoke(build_cli(), ["create", "secret", "piped"], input="piped S3cret\n")
    assert made.exit_code == 0 and "S3cret" not in made.output, made.output
    assert secret_store.get("piped", None, None) == b"piped S3cret"  # one trailing newline dropped
    empty = CliRunner().invoke(build_cli(), ["create", "secret", "piped"], input="")
    assert empty.exit_code == 2 and "standard input: it was empty" in empty.output
    both = cli("create", "secret", "piped", "v", "--from-file", __file__)
    assert both.exit_code == 2 and "not both" in both.output
    missing = cli("create", "secret", "piped", "--from-file", "/no/such/file")
    assert missing.exit_code == 2 and "/no/such/file" in missing.output  # a path is named, not masked
