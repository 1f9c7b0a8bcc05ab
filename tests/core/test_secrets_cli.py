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
