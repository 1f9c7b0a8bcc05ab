"""Secrets: named values from a secret store, handed to a task as an env var or a file."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import attrs

from flyte._validation import invalid, safe_name, wrong_type
from flyte.errors import ConfigurationAttributeError

SECRETS_MOUNT = "/etc/flyte/secrets"
# A rendered container's list of the env vars that hold secrets (names only): its entrypoint
# masks their values before it imports the task's module, whose import may fail and print them.
SECRET_ENV_VARS = "FLYTE_SECRET_ENV_VARS"
# What the reference SDK takes as a secret's environment variable: upper case, as the guide writes.
SECRET_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_ENV_VAR_RULE = "upper-case letters, digits and _, not starting with a digit, such as MY_API_KEY"


def _key(value: Any) -> str:
    if not isinstance(value, str):  # an AttributeError too, as the reference SDK's key.replace() raises
        wrong_type("Secret.key", value, "a str", ConfigurationAttributeError)
    # The key names a file (locally and in the mounted volume) and a Kubernetes Secret key.
    return safe_name("Secret.key", value)


def _group(value: Any) -> str | None:
    return None if value is None else safe_name("Secret.group", value)


def _as_env_var(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        wrong_type("Secret.as_env_var", value, "an environment variable name (a str) such as MY_API_KEY")
    if not SECRET_ENV_VAR.fullmatch(value):
        invalid("Secret.as_env_var", value, _ENV_VAR_RULE)
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
    is exposed in the environment variable :attr:`env_var`: ``GROUP_KEY`` (or ``KEY``) upper-cased,
    ``-`` as ``_``, as the reference SDK names it.
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
        if not self.mount and not self.as_env_var and not SECRET_ENV_VAR.fullmatch(self._default_env_var):
            invalid(
                "Secret.key",
                self.key,
                f"a key (and group) that make an environment variable name ({_ENV_VAR_RULE}, '-' read as _), "
                f'or as_env_var="MY_VAR", or mount="{SECRETS_MOUNT}"',
                f"gives the environment variable {self._default_env_var!r}, which is not a valid name",
            )

    @property
    def _default_env_var(self) -> str:
        return default_env_var(self.key, self.group)

    @property
    def env_var(self) -> str | None:
        """The environment variable that receives the value (None for a mounted secret)."""
        if self.mount:
            return None
        return self.as_env_var or self._default_env_var

    @property
    def path(self) -> str | None:
        """The file that receives the value (None unless mounted)."""
        return f"{self.mount}/{self.key}" if self.mount else None


def default_env_var(key: str, group: str | None) -> str:
    """The variable a secret with neither ``as_env_var`` nor ``mount`` is exposed in."""
    name = f"{group}_{key}" if group else key
    return name.replace("-", "_").upper()


# Earlier versions of this library took any C identifier for as_env_var (exported as written,
# lower case too), and named a secret's variable by default after its key alone: other
# characters as _, upper-cased, _ before a leading digit (git log -S"as_env_var" secret.py).
_EARLIER_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _earlier_default_env_var(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", key).upper()
    return name if _EARLIER_ENV_VAR.match(name) else f"_{name}"


def stored_secret(key: Any, group: Any = None, mount: Any = None, as_env_var: Any = None) -> Secret:
    """A Secret read back from data this library stored (a deployment's spec, a connector
    job's record), possibly written by an earlier version whose rules were looser: the secret
    keeps the variable that version exported it in, so reading the record never fails on it.
    New input goes through ``Secret(...)`` and its rules.

    Only what the current rules refuse is migrated, so a record written now reads back equal."""
    named = as_env_var is None and mount is None and isinstance(key, str) and isinstance(group, (str, type(None)))
    if named and not SECRET_ENV_VAR.fullmatch(default_env_var(key, group)):  # refused now: an earlier version's
        as_env_var = _earlier_default_env_var(key)
    earlier = isinstance(as_env_var, str) and _EARLIER_ENV_VAR.fullmatch(as_env_var)
    if earlier and not SECRET_ENV_VAR.fullmatch(as_env_var):
        # Checked (key, group, mount, not both) with the name upper-cased, then given the name
        # as the earlier version exported it: a task reads os.environ by that exact name.
        secret = Secret(key=key, group=group, mount=mount, as_env_var=as_env_var.upper())
        object.__setattr__(secret, "as_env_var", as_env_var)
        return secret
    return Secret(key=key, group=group, mount=mount, as_env_var=as_env_var)


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
