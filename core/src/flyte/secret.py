"""Secrets: named values from a secret store, handed to a task as an env var or a file."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import attrs

from flyte._validation import ENV_VAR_NAME, invalid, safe_name, wrong_type

SECRETS_MOUNT = "/etc/flyte/secrets"


def _key(value: Any) -> str:
    # The key names a file (locally and in the mounted volume) and a Kubernetes Secret key.
    return safe_name("Secret.key", value)


def _group(value: Any) -> str | None:
    return None if value is None else safe_name("Secret.group", value)


def _as_env_var(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        wrong_type("Secret.as_env_var", value, "an environment variable name (a str) such as MY_API_KEY")
    if not ENV_VAR_NAME.fullmatch(value):
        invalid("Secret.as_env_var", value, "an environment variable name such as MY_API_KEY")
    return value


def _mount(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, PurePosixPath)) and not hasattr(value, "__fspath__"):
        wrong_type("Secret.mount", value, f'the path "{SECRETS_MOUNT}"')
    path = str(PurePosixPath(str(value)))
    if path != SECRETS_MOUNT:
        invalid("Secret.mount", str(value), f'"{SECRETS_MOUNT}" (the secret is the file <mount>/<key>)')
    return path


@attrs.frozen
class Secret:
    """A secret from the store, by ``key`` (optionally within ``group``).

    ``as_env_var`` exposes its value in that environment variable; ``mount`` (which must be
    ``"/etc/flyte/secrets"``) writes it to the file ``<mount>/<key>``. With neither, the value
    is exposed in the environment variable :attr:`env_var` (the key, upper-cased).
    """

    key: str = attrs.field(converter=_key)
    group: str | None = attrs.field(default=None, converter=_group)
    mount: str | None = attrs.field(default=None, converter=_mount)
    as_env_var: str | None = attrs.field(default=None, converter=_as_env_var)

    def __attrs_post_init__(self) -> None:
        if self.mount and self.as_env_var:
            invalid(
                "Secret",
                self,
                "either as_env_var or mount, not both (declare the secret twice for both)",
                "sets both as_env_var and mount",
            )

    @property
    def env_var(self) -> str | None:
        """The environment variable that receives the value (None for a mounted secret)."""
        if self.mount:
            return None
        if self.as_env_var:
            return self.as_env_var
        name = re.sub(r"[^A-Za-z0-9_]", "_", self.key).upper()
        return name if ENV_VAR_NAME.match(name) else f"_{name}"

    @property
    def path(self) -> str | None:
        """The file that receives the value (None unless mounted)."""
        return f"{self.mount}/{self.key}" if self.mount else None


def to_secrets(value: Any, param: str = "secrets") -> tuple[Secret, ...]:
    """``secrets=`` (or ``param``) accepts a key (str), a Secret, or a list of either."""
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, Secret)) else value
    if not isinstance(items, (list, tuple)):
        wrong_type(param, value, "a str, a flyte.Secret or a list of them")
    secrets = []
    for item in items:
        if isinstance(item, str):
            item = Secret(key=item)
        elif not isinstance(item, Secret):
            wrong_type(param, item, "a str or a flyte.Secret")
        secrets.append(item)
    secrets = list(dict.fromkeys(secrets))  # the same secret twice is asked for once
    targets = [s.env_var or s.path for s in secrets]
    for target in targets:
        if targets.count(target) > 1:
            invalid(param, target, "each env var or file used by one secret", "is the target of two secrets")
    return tuple(secrets)


# The forms ``secrets=`` accepts: a key, a Secret, or a list of either.
SecretRequest = str | Secret | list[str | Secret]
