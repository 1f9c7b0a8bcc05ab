"""``flyte.remote.Secret`` with bad arguments: an error names the parameter and what is accepted,
and never repeats a value that was meant to be a secret (a bytearray, a list of tokens ...)."""

from __future__ import annotations

import pytest

import flyte
import flyte.remote
from flyte.errors import ConfigurationError, SecretNotFoundError


@pytest.mark.parametrize("value", [bytearray(b"sk-LEAKME-1"), ["sk-LEAKME-1"], {"token": "sk-LEAKME-1"}])
def test_a_value_of_the_wrong_type_is_refused_without_repeating_it(value):
    flyte.init()
    with pytest.raises(TypeError) as caught:
        flyte.remote.Secret.create(name="token", value=value)
    message = str(caught.value)
    assert "LEAKME" not in message
    assert message.startswith("value: expected the secret's value as a str or bytes, got ")
    assert type(value).__name__ in message


@pytest.mark.parametrize("op", ["get", "delete"])
@pytest.mark.parametrize("name", ["", "a b", "../up"])
def test_get_and_delete_of_a_name_that_cannot_exist_say_the_name_is_invalid(op, name):
    flyte.init()
    with pytest.raises(ConfigurationError, match=r"secret name: .* is not valid \(accepted: letters, digits"):
        getattr(flyte.remote.Secret, op)(name)


def test_get_of_a_name_that_is_not_a_str_is_a_type_error():
    flyte.init()
    with pytest.raises(TypeError, match="secret name: expected a str, got int 5"):
        flyte.remote.Secret.get(5)
    with pytest.raises(SecretNotFoundError):  # a valid name that is not there: not found, as before
        flyte.remote.Secret.get("absent")


def test_a_value_bigger_than_a_kubernetes_secret_is_refused_by_the_sdk_and_the_cli(tmp_path):
    from click.testing import CliRunner

    from flyte.cli.main import build_cli
    from flyte.runtime import secret_store

    flyte.init()
    flyte.remote.Secret.create(name="cert", value=b"x" * 1024 * 1024)  # 1 MiB: what a Secret holds
    with pytest.raises(
        ConfigurationError, match=r"value: 1048577 bytes is too large .*at most 1048576 bytes"
    ) as caught:
        flyte.remote.Secret.create(name="blob", value="x" * (1024 * 1024 + 1))
    assert "xxxx" not in str(caught.value)
    big = tmp_path / "blob.bin"
    big.write_bytes(b"y" * (5 * 1024 * 1024))
    result = CliRunner().invoke(build_cli(), ["create", "secret", "blob", "--from-file", str(big)])
    assert result.exit_code != 0 and "5242880 bytes is too large" in result.output
    assert secret_store.list_names() == ["cert"]


def test_an_image_pull_secret_made_with_the_cli_is_one_the_sdk_lists_as_image_pull(tmp_path):
    from click.testing import CliRunner

    from flyte.cli.main import build_cli

    flyte.init()
    helpers_only = tmp_path / "config.json"  # valid JSON, but no registry credentials in it
    helpers_only.write_text('{"credHelpers": {"gcr.io": "gcloud"}}')
    result = CliRunner().invoke(
        build_cli(), ["create", "secret", "reg", "--type", "image_pull", "--from-file", str(helpers_only)]
    )
    assert result.exit_code == 2 and "docker config JSON" in result.output and '"auths"' in result.output
    creds = tmp_path / "auths.json"
    creds.write_text('{"auths": {"ghcr.io": {"auth": "dXNlcjpwdw=="}}}')
    result = CliRunner().invoke(
        build_cli(), ["create", "secret", "reg", "--type", "image_pull", "--from-file", str(creds)]
    )
    assert result.exit_code == 0
    assert flyte.remote.Secret.get("reg").type == "image_pull"


@pytest.mark.parametrize(
    ("scope", "project", "domain"),
    [
        (["--project", "team-a"], "team-a", None),
        (["--domain", "prod"], None, "prod"),
        (["-p", "a", "-d", "b"], "a", "b"),
    ],
)
def test_the_cli_refuses_a_scoped_image_pull_secret_as_the_sdk_does(tmp_path, scope, project, domain):
    from click.testing import CliRunner

    from flyte.cli.main import build_cli
    from flyte.runtime import secret_store

    flyte.init()
    creds = tmp_path / "auths.json"
    creds.write_text('{"auths": {"ghcr.io": {"auth": "dXNlcjpwdw=="}}}')
    result = CliRunner().invoke(
        build_cli(), ["create", "secret", "reg", "--type", "image_pull", "--from-file", str(creds), *scope]
    )
    assert result.exit_code == 2, result.output
    assert "image_pull" in result.output and "organisation-wide" in result.output
    assert "--project" in result.output or "--domain" in result.output
    assert "dXNlcjpwdw" not in result.output
    assert secret_store.list_names() == [] and secret_store.list_names(project, domain) == []
