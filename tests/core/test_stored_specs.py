"""A TaskSpec stored by an earlier version of this library (``flyte deploy``'s deployments, a
connector job's record, which ``flyte runs cancel`` reads back) is read back where a rule got
stricter since, with the behaviour that version gave it; new input stays strictly checked."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import flyte
from flyte.errors import ConfigurationError
from flyte.retry import Backoff
from flyte.runtime.connectors import task_secrets
from flyte.runtime.settings import LocalSettings
from flyte.spec import TaskSpec

# Written by TaskSpec.to_dict() at c15d97c (before Backoff needed a cap above factor 1 and
# as_env_var upper case), for:
#   env = flyte.TaskEnvironment("legacy", secrets=[flyte.Secret(key="openai", as_env_var="openai_key"),
#                               flyte.Secret(key="db.pass"), flyte.Secret(key="9lives", group="cats")])
#   @env.task(retries=RetryStrategy(count=3, backoff=Backoff()))
#   def t(x: float) -> float: ...
# That version exported the secrets as $openai_key, $DB_PASS and $_9LIVES, and waited
# min(1s * 2**n, 365 days) before retry n.
EARLIER = (
    '{"cache": {"behavior": "disable", "ignored_inputs": [], "max_age": null, "policies": {"$t": "tuple", "v": []}, '
    '"salt": "", "serialize": false, "version_override": null}, "depends_on": [], "description": null, '
    '"docs": {"description": null}, "entrypoint": false, "env_name": "legacy", "env_vars": {}, "function_name": "t", '
    '"image": {"base_image": "python:3.11-slim-bookworm", "dockerfile": null, "install_flyte": true, "layers": [], '
    '"name": "flyte", "platform": ["linux/amd64"], "python_version": [3, 11], "ref_name": null, "registry": null, '
    '"registry_secret": null}, "include": [], "interface": {"inputs": [{"name": "x", "type": "float"}], '
    '"output": "float"}, "interruptible": false, "links": {"$t": "tuple", "v": []}, "max_inline_io_bytes": 10485760, '
    '"module": "__main__", "name": "legacy.t", "plugin_config": null, "pod_template": null, "queue": null, '
    '"report": false, "resources": null, "retries": {"backoff": {"base": 1.0, "cap": null, "factor": 2.0}, '
    '"count": 3}, "reusable": null, "secrets": [{"as_env_var": "openai_key", "group": null, "key": "openai", '
    '"mount": null}, {"as_env_var": null, "group": null, "key": "db.pass", "mount": null}, {"as_env_var": null, '
    '"group": "cats", "key": "9lives", "mount": null}], "service_account": null, "short_name": "t", '
    '"timeout": null, "triggers": []}'
)


def earlier() -> dict:
    return json.loads(EARLIER)


def test_an_earlier_versions_spec_reads_back():
    spec = TaskSpec.from_dict(earlier())
    assert spec.name == "legacy.t"
    assert spec.retries.count == 3


def test_a_backoff_with_the_old_default_factor_waits_as_it_did():
    backoff = TaskSpec.from_dict(earlier()).retries.backoff
    assert backoff.factor == 2.0
    assert backoff.cap == timedelta(days=365)  # the bound that version's delay() applied
    waits = [backoff.delay(n).total_seconds() for n in range(6)]
    assert waits == [1, 2, 4, 8, 16, 32]
    assert backoff.delay(40) == timedelta(days=365)


def test_secrets_keep_the_variables_that_version_exported():
    openai, db, cats = TaskSpec.from_dict(earlier()).secrets
    assert (openai.key, openai.env_var) == ("openai", "openai_key")  # as written: os.environ is case-sensitive
    assert (db.key, db.env_var) == ("db.pass", "DB_PASS")  # "DB.PASS" is no variable name
    assert cats.env_var == "CATS_9LIVES"  # a name valid now too: nothing tells it from a record written now


def test_a_stored_secret_is_found_under_its_old_variable(monkeypatch):
    """flyte runs cancel reads a killed run's connector job record and resolves its secrets; in a
    container the earlier version rendered, they are in the variables it named."""
    spec = TaskSpec.from_dict(earlier())
    monkeypatch.setenv("openai_key", "sk-lower")
    monkeypatch.setenv("DB_PASS", "pw")
    monkeypatch.setenv("CATS_9LIVES", "meow")
    values = task_secrets(spec, LocalSettings(secret_source="environment"))
    assert values == {"openai": "sk-lower", "db.pass": "pw", "9lives": "meow"}


def test_a_migrated_spec_round_trips():
    spec = TaskSpec.from_dict(earlier())
    again = TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.secrets[0].as_env_var == "openai_key"


def test_a_spec_written_now_reads_back_unchanged():
    env = flyte.TaskEnvironment(
        "stored_now",
        secrets=[flyte.Secret(key="k", group="g"), flyte.Secret(key="a", as_env_var="A_VAR")],
    )

    @env.task(retries=flyte.RetryStrategy(count=2, backoff=Backoff(base=2, factor=3, cap=60)))
    def t(x: float) -> float:
        return x

    back = TaskSpec.from_dict(json.loads(json.dumps(t.spec.to_dict())))
    assert back == t.spec
    assert back.retries.backoff == Backoff(base=2, factor=3, cap=60)
    assert [s.env_var for s in back.secrets] == ["G_K", "A_VAR"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Backoff(base=1, factor=2),
        lambda: flyte.Secret(key="openai", as_env_var="openai_key"),
        lambda: flyte.Secret(key="db.pass"),
    ],
    ids=["backoff-factor-without-cap", "lower-case-as_env_var", "key-without-a-variable-name"],
)
def test_new_input_is_still_refused(make):
    with pytest.raises(ConfigurationError):
        make()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("retries", "backoff"), {"base": 1.0, "factor": 0.5, "cap": None}, "Backoff.factor: 0.5 would shrink"),
        (
            ("retries", "backoff"),
            {"base": 1.0, "factor": 2.0, "cap": None, "jitter": 1},
            r"extra fields found \(jitter\)",
        ),
        (("secrets",), [{"key": "a", "as_env_var": "1bad"}], "Secret.as_env_var: '1bad' is not valid"),
        (("secrets",), [{"key": "a", "as_env_var": "has space"}], "Secret.as_env_var: 'has space'"),
        (("secrets",), [{"key": "a", "mount": "/etc/flyte/secrets", "as_env_var": "lower"}], "sets both"),
    ],
)
def test_what_no_version_wrote_is_still_refused_saying_why(path, value, message):
    data = earlier()
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ConfigurationError, match=message) as caught:
        TaskSpec.from_dict(data)
    assert "spec." + ".".join(path) in str(caught.value)
