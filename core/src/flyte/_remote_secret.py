"""``flyte.remote.Secret``: the reference SDK's Python API of the secret store (the guide: "create,
list, and delete secrets in the store using the Flyte CLI or SDK"), on the local store that
``flyte create secret`` writes (:mod:`flyte.runtime.secret_store`). A ``Secret`` names a stored
secret and its scope; its value is never read back through it.

Scope: the reference scopes a secret to the project and domain ``flyte.init`` was given, and
to the organisation when it was given none. Here the settings always hold a project and domain
(``"default"``, ``"development"`` when none is given), so one that is not the default scopes
the secret; a task of that project and domain finds it either way (the most specific scope
that has it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs

from flyte._syncify import syncify
from flyte._validation import invalid, safe_name
from flyte.errors import ConfigurationError, ConfigurationTypeError, SecretNotFoundError

_DEFAULTS = {"project": "default", "domain": "development"}


def _scope(op: str, cluster_pool: str | None) -> tuple[str | None, str | None]:
    """The (project, domain) a secret is created, read or deleted in (None: not scoped by it)."""
    if cluster_pool is not None:
        raise ConfigurationError(
            f"Secret.{op}: cluster_pool={cluster_pool!r} names a cluster pool of a Flyte control plane, which "
            "this runtime does not have (accepted: None; scope a secret with flyte.init(project=, domain=))"
        )
    from flyte.runtime import settings

    current = settings.current()
    project = current.project if current.project != _DEFAULTS["project"] else None
    domain = current.domain if current.domain != _DEFAULTS["domain"] else None
    return project, domain


@attrs.frozen
class Secret:
    """A stored secret: its ``name``, ``type`` ("regular" or "image_pull") and the ``project``
    and ``domain`` it is scoped to (None: every one)."""

    name: str
    type: str = "regular"
    project: str | None = None
    domain: str | None = None

    @syncify
    @classmethod
    def create(cls, name: str, value: str | bytes, type: str = "regular", cluster_pool: str | None = None) -> None:
        """Store ``value`` as secret ``name`` (replacing one of that name in the same scope).
        ``type="image_pull"``: registry credentials (a docker config JSON), organisation-wide:
        refused when ``flyte.init`` named a project or domain, as the reference refuses it."""
        from flyte.runtime import secret_store

        if type not in secret_store.TYPES:
            invalid("type", type, ", ".join(repr(t) for t in secret_store.TYPES))
        if not isinstance(value, (str, bytes)):  # its type only: it may be the secret
            raise ConfigurationTypeError(
                f"value: expected the secret's value as a str or bytes, got {value.__class__.__name__}"
            )
        data = value.encode() if isinstance(value, str) else value
        project, domain = _scope("create", cluster_pool)
        if type == "image_pull":
            if not secret_store.is_pull_secret(data):
                raise ConfigurationError(
                    f"Secret.create: secret {name!r} of type 'image_pull' must be a docker config JSON "
                    f"(accepted: {secret_store.PULL_SECRET_FORM})"
                )
            if project or domain:  # (the reference's ValueError): widening it would share it with every project
                scope = ", ".join(f"{k}={v!r}" for k, v in (("project", project), ("domain", domain)) if v)
                raise ConfigurationError(
                    f"Secret.create: secret {name!r} of type 'image_pull' cannot be scoped to {scope} (from "
                    "flyte.init); registry credentials are organisation-wide (accepted: flyte.init() with no "
                    "project or domain, or the defaults)"
                )
        secret_store.create(name, data, project, domain, kind=type)

    @syncify
    @classmethod
    def get(cls, name: str, cluster_pool: str | None = None) -> Secret:
        """The secret ``name`` visible in this scope (``SecretNotFoundError`` if none is)."""
        safe_name("secret name", name)
        project, domain = _scope("get", cluster_pool)
        for secret in _visible(project, domain):
            if secret.name == name:
                return secret
        from flyte.runtime import secret_store

        raise SecretNotFoundError(secret_store._missing(name, project, domain))

    @syncify
    @classmethod
    def listall(cls, limit: int = 10, cluster_pool: str | None = None) -> Iterator[Secret]:
        """Every secret visible in this scope (most specific scope first; ``limit`` is the
        reference's page size: all are listed)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            invalid("limit", limit, "an int >= 1 (the page size)")
        yield from _visible(*_scope("listall", cluster_pool))

    @syncify
    @classmethod
    def delete(cls, name: str, cluster_pool: str | None = None) -> None:
        """Delete secret ``name`` from this scope (``SecretNotFoundError`` if it has none)."""
        from flyte.runtime import secret_store

        project, domain = _scope("delete", cluster_pool)
        secret_store.delete(name, project, domain)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _visible(project: str | None, domain: str | None) -> list[Secret]:
    """The secrets a task of (project, domain) can read, each from the most specific scope."""
    from flyte.runtime import secret_store

    scopes = []
    if project and domain:
        scopes.append((project, domain))
    if project:
        scopes.append((project, None))
    if domain:
        scopes.append((None, domain))
    scopes.append((None, None))
    seen: dict[str, Secret] = {}
    for p, d in scopes:
        folder = secret_store._folder(p, d)
        for name in secret_store.list_names(p, d):
            value = secret_store.read(folder, name) if name not in seen else None
            if value is not None:  # (None: deleted by another process since it was listed)
                seen[name] = Secret(name=name, type=secret_store.kind(folder, name, value), project=p, domain=d)
    return list(seen.values())
