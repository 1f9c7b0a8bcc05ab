"""The local secret store: one private file per secret under ``<state root>/secrets``.

Secrets are scoped as the guide describes: organisation-wide (no project, no domain), one
project, one domain, or one project and domain. A task running in project P and domain D
finds a secret in the most specific scope that has it: (P, D), then P, then D, then the
organisation. Folders are mode 0700 and files 0600; a value is written to a temporary file
and renamed into place, so a crash never leaves half a secret.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flyte._home import state_path
from flyte._validation import invalid
from flyte.errors import SecretNotFoundError
from flyte.secret import SECRET_KEY

ORG = "_org"


def _scope(project: str | None, domain: str | None) -> str:
    if project and domain:
        return f"project={project},domain={domain}"
    if project:
        return f"project={project}"
    if domain:
        return f"domain={domain}"
    return ORG


def _check(name: str) -> str:
    if not isinstance(name, str) or not SECRET_KEY.match(name):
        invalid("secret name", name, "letters, digits, '_', '-' and '.', starting with a letter or digit")
    return name


def _folder(project: str | None, domain: str | None) -> Path:
    return state_path("secrets", _scope(project, domain))


def create(name: str, value: bytes, project: str | None = None, domain: str | None = None) -> Path:
    """Store a secret (replacing an existing one in the same scope)."""
    folder = _folder(project, domain)
    target = folder / _check(name)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(value)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def delete(name: str, project: str | None = None, domain: str | None = None) -> None:
    path = _folder(project, domain) / _check(name)
    if not path.exists():
        raise SecretNotFoundError(_missing(name, project, domain, exact=True))
    path.unlink()


def list_names(project: str | None = None, domain: str | None = None) -> list[str]:
    """The secrets stored in exactly this scope (names only; values are never listed)."""
    folder = _folder(project, domain)
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def get(name: str, project: str | None = None, domain: str | None = None) -> bytes:
    """The value a task in (project, domain) sees: the most specific scope that has it."""
    for scope in _lookup_order(project, domain):
        path = state_path("secrets", scope) / _check(name)
        if path.is_file():
            return path.read_bytes()
    raise SecretNotFoundError(_missing(name, project, domain))


def _lookup_order(project: str | None, domain: str | None) -> list[str]:
    order = []
    if project and domain:
        order.append(_scope(project, domain))
    if project:
        order.append(_scope(project, None))
    if domain:
        order.append(_scope(None, domain))
    order.append(ORG)
    return order


def _missing(name: str, project: str | None, domain: str | None, exact: bool = False) -> str:
    where = f"project {project!r}, domain {domain!r}" if (project or domain) else "the organisation"
    scope = "in exactly that scope" if exact else "in any scope visible to it"
    return (
        f"secret {name!r} not found for {where} ({scope}); create it with: "
        f"flyte create secret {name} <value>  (or --from-file PATH)"
    )
