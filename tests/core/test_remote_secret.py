"""``flyte.remote.Secret``: the guide's "create, list, and delete secrets ... using the Flyte CLI
or SDK", on the local store ``flyte create secret`` writes; a task's ``flyte.Secret`` finds what
the SDK created, and no value is ever given back through it."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

import flyte
import flyte.remote
from flyte.errors import ConfigurationError, SecretNotFoundError
from flyte.runtime import secret_store

env = flyte.TaskEnvironment(name="sdk_secrets", secrets=[flyte.Secret(key="api_token", as_env_var="API_TOKEN")])


@env.task
def token_length() -> int:
    return len(os.environ["API_TOKEN"])


def test_a_secret_created_with_the_sdk_is_seen_by_tasks_listed_and_deleted():
    flyte.init()
    flyte.remote.Secret.create(name="api_token", value="sk-123456")
    assert flyte.run(token_length).outputs()[0] == 9
    secret = flyte.remote.Secret.get("api_token")
    assert (secret.name, secret.type, secret.project, secret.domain) == ("api_token", "regular", None, None)
    assert "sk-123456" not in repr(secret) + secret.to_json()
    assert [s.name for s in flyte.remote.Secret.listall()] == ["api_token"]
    flyte.remote.Secret.delete("api_token")
    assert list(flyte.remote.Secret.listall()) == []
    with pytest.raises(SecretNotFoundError, match="secret 'api_token' not found"):
        flyte.remote.Secret.get("api_token")
    with pytest.raises(SecretNotFoundError):
        flyte.remote.Secret.delete("api_token")


def test_init_project_and_domain_scope_the_secret_as_the_reference_does():
    flyte.init(project="team-a", domain="staging")
    asyncio.run(flyte.remote.Secret.create.aio(name="db", value=b"\x00pw"))
    assert secret_store.list_names("team-a", "staging") == ["db"]
    assert secret_store.list_names() == []
    secret_store.create("shared", b"org-wide")  # flyte create secret shared ... (organisation)
    listed = {s.name: (s.project, s.domain) for s in flyte.remote.Secret.listall()}
    assert listed == {"db": ("team-a", "staging"), "shared": (None, None)}
    flyte.init()  # another project: only the organisation's
    assert [s.name for s in flyte.remote.Secret.listall()] == ["shared"]


def test_image_pull_secrets_and_bad_arguments():
    flyte.init()
    creds = json.dumps({"auths": {"ghcr.io": {"auth": "dXNlcjpwdw=="}}})
    flyte.remote.Secret.create(name="ghcr", value=creds, type="image_pull")
    assert flyte.remote.Secret.get("ghcr").type == "image_pull"
    assert secret_store.list_names() == ["ghcr"]  # organisation-wide, as the reference requires
    with pytest.raises(ConfigurationError, match="must be a docker config JSON"):
        flyte.remote.Secret.create(name="bad", value="user:pw", type="image_pull")
    with pytest.raises(ConfigurationError, match=r"type: 'pull' is not valid \(accepted: 'regular', 'image_pull'\)"):
        flyte.remote.Secret.create(name="x", value="v", type="pull")
    with pytest.raises(ConfigurationError, match="value: expected the secret's value as a str or bytes, got int$"):
        flyte.remote.Secret.create(name="x", value=5)
    with pytest.raises(ConfigurationError, match="cluster_pool='gpu' names a cluster pool"):
        flyte.remote.Secret.create(name="x", value="v", cluster_pool="gpu")
    with pytest.raises(ConfigurationError, match="secret name"):
        flyte.remote.Secret.create(name="../escape", value="v")


@pytest.mark.parametrize("scope", [{"project": "team-a"}, {"domain": "production"}])
def test_an_image_pull_secret_under_a_project_or_domain_is_refused_not_widened(scope):
    """As the reference's ``Secret.create`` (a ValueError): the credentials are organisation-wide,
    and storing them so when a project was asked for would share them with every project."""
    flyte.init(**scope)
    creds = json.dumps({"auths": {"ghcr.io": {"auth": "dXNlcjpwdw=="}}})
    ((key, value),) = scope.items()
    with pytest.raises(ValueError, match=rf"secret 'ghcr' of type 'image_pull'.*{key}={value!r}.*organisation-wide"):
        flyte.remote.Secret.create(name="ghcr", value=creds, type="image_pull")
    with pytest.raises(SecretNotFoundError):
        flyte.remote.Secret.get("ghcr")
    assert secret_store.list_names() == []


DOCKER_CONFIG = json.dumps({"auths": {"ghcr.io": {"auth": "dXNlcjpwdw=="}}})


def test_a_secret_is_listed_with_the_type_it_was_created_with_not_one_guessed_from_its_value():
    flyte.init()
    flyte.remote.Secret.create(name="backup_docker_config", value=DOCKER_CONFIG)  # regular, by default
    flyte.remote.Secret.create(name="ghcr", value=DOCKER_CONFIG, type="image_pull")
    assert flyte.remote.Secret.get("backup_docker_config").type == "regular"
    assert {s.name: s.type for s in flyte.remote.Secret.listall()} == {
        "backup_docker_config": "regular",
        "ghcr": "image_pull",
    }
    flyte.remote.Secret.create(name="ghcr", value=DOCKER_CONFIG)  # replaced as a regular one
    assert flyte.remote.Secret.get("ghcr").type == "regular"
    flyte.remote.Secret.delete("ghcr")
    assert secret_store.list_names() == ["backup_docker_config"]  # (the type record is no secret)


def test_the_cli_records_the_type_it_was_given(tmp_path):
    from click.testing import CliRunner

    from flyte.cli.main import build_cli

    flyte.init()
    config = tmp_path / "config.json"
    config.write_text(DOCKER_CONFIG)
    for name, kind in (("plain", "regular"), ("pull", "image_pull")):
        result = CliRunner().invoke(build_cli(), ["create", "secret", name, "--type", kind, "--from-file", str(config)])
        assert result.exit_code == 0, result.output
    assert {s.name: s.type for s in flyte.remote.Secret.listall()} == {"plain": "regular", "pull": "image_pull"}


def test_a_store_written_before_types_were_recorded_reads_back_its_type_from_the_value():
    flyte.init()
    folder = secret_store._folder(None, None)  # the files an earlier version wrote: values only
    (folder / "old_pull").write_text(DOCKER_CONFIG)
    (folder / "old_token").write_text("sk-old")
    assert {s.name: s.type for s in flyte.remote.Secret.listall()} == {"old_pull": "image_pull", "old_token": "regular"}
    assert secret_store.get("old_pull") == DOCKER_CONFIG.encode()
    assert flyte.run(token_length_of_old).outputs() == len("sk-old")


old_env = flyte.TaskEnvironment(name="sdk_secrets_old", secrets=[flyte.Secret(key="old_token", as_env_var="OLD")])


@old_env.task
def token_length_of_old() -> int:
    return len(os.environ["OLD"])
