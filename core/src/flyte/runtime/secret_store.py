"""The local secret store: one private file per secret under ``<state root>/secrets``.

Secrets are scoped as the guide describes: organisation-wide (no project, no domain), one
project, one domain, or one project and domain. A task running in project P and domain D
finds a secret in the most specific scope that has it: (P, D), then P, then D, then the
organisation. Folders are mode 0700 and files 0600; a value is written to a temporary file
and renamed into place, so a crash never leaves half a secret. The type a secret was created
with ("regular", "image_pull") is kept beside it in the folder's ``.types``.

Project, domain and name are checked as names (no separators, no ``..``) and every path is
resolved and checked to stay inside the store, so no argument reaches a file outside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from flyte._home import inside, state_path
from flyte._validation import safe_name
from flyte.errors import ConfigurationError, SecretNotFoundError, StateError

ORG = "_org"
# What a Kubernetes Secret holds (a rendered pod's secrets are ones); a bigger value could
# never reach a cluster's task, and as an env var one of over 128 KiB already stops the task's
# own subprocesses (E2BIG).
MAX_VALUE_BYTES = 1024 * 1024


def _scope(project: str | None, domain: str | None) -> str:
    if project is not None:
        safe_name("project", project)
    if domain is not None:
        safe_name("domain", domain)
    if project and domain:
        return f"project={project},domain={domain}"
    if project:
        return f"project={project}"
    if domain:
        return f"domain={domain}"
    return ORG


PULL_SECRET_FORM = '{"auths": {"<registry>": {"auth": "<base64 user:password>"}}}'


def is_pull_secret(value: bytes) -> bool:
    """A docker config JSON with registry credentials (an ``auths`` object), what an
    image_pull secret is (a Kubernetes ``.dockerconfigjson`` needs ``auths``)."""
    try:
        data = json.loads(value)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("auths"), dict)


def _file(folder: Path, name: str) -> Path:
    """The file of secret ``name`` in a scope's folder, checked to stay inside it."""
    return inside(folder, folder / safe_name("secret name", name))


def _folder(project: str | None, domain: str | None) -> Path:
    return state_path("secrets", _scope(project, domain))


TYPES = ("regular", "image_pull")
# Each scope's folder keeps the type a secret was created with in .types/<name> (a dot folder:
# never listed as a secret). A store written before types were recorded has none: its type is
# then read from its value (:func:`kind`), as it always was.
_TYPES = ".types"


def create(
    name: str, value: bytes, project: str | None = None, domain: str | None = None, kind: str = "regular"
) -> Path:
    """Store a secret of type ``kind`` (replacing an existing one in the same scope)."""
    if kind not in TYPES:
        raise ValueError(f"kind: {kind!r} is not a secret type (accepted: {', '.join(TYPES)})")
    if len(value) > MAX_VALUE_BYTES:  # (its size only, never the value)
        raise ConfigurationError(
            f"value: {len(value)} bytes is too large for secret {name!r} (accepted: at most {MAX_VALUE_BYTES} "
            "bytes, what a Kubernetes Secret holds; keep bigger data in a file or object store and its "
            "credentials in the secret)"
        )
    folder = _folder(project, domain)
    target = _file(folder, name)
    record = _type_file(folder, name)
    # The old record goes first and the new one comes last: a crash in between leaves the
    # type to be read from the value, never the type of the value replaced.
    record.unlink(missing_ok=True)
    _write(folder, target, value)
    _write(folder, record, kind.encode())
    return target


def _write(folder: Path, target: Path, data: bytes) -> None:
    """``data`` in ``target`` (0600), whole or not at all: written beside it, then renamed."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _type_file(folder: Path, name: str) -> Path:
    types = folder / _TYPES
    types.mkdir(mode=0o700, exist_ok=True)
    return inside(folder, types / safe_name("secret name", name))


def kind(folder: Path, name: str, value: bytes) -> str:
    """The type secret ``name`` (of ``value``) was created with; for one stored before types
    were recorded, "image_pull" if its value is a docker config with credentials."""
    try:
        recorded = (folder / _TYPES / safe_name("secret name", name)).read_bytes().decode("ascii", "replace")
    except OSError:
        recorded = ""
    if recorded in TYPES:
        return recorded
    return "image_pull" if is_pull_secret(value) else "regular"


def private_key(purpose: str) -> bytes:
    """A random 32-byte key of flyte's own for ``purpose``, made once per state root and kept
    beside the secrets (a dot file, never listed; 0600 in the 0700 store): e.g. the key of the
    cache keys of calls whose inputs hold a secret. Processes racing to make it all read the
    one that was linked into place first; a crash leaves none or a whole one."""
    folder = state_path("secrets")
    target = inside(folder, folder / f".{safe_name('key purpose', purpose)}.key")
    try:
        return _whole_key(_read_key(target, purpose), target)
    except FileNotFoundError:
        pass
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    except OSError as error:  # (FileNotFoundError too: the folder was removed meanwhile)
        raise StateError(f"{folder}: cannot make flyte's key for {purpose} there ({error.strerror})") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile: theirs is kept
            os.link(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return _whole_key(_read_key(target, purpose), target)


def _read_key(path: Path, purpose: str) -> bytes:
    """The key file's bytes; FileNotFoundError when there is none, a StateError saying what to
    do when it cannot be read (a directory, another user's file), not the raw OSError."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise StateError(
            f"{path}: cannot read flyte's key for {purpose} ({error.strerror}); remove it and flyte makes another"
        ) from None


def _whole_key(data: bytes, path: Path) -> bytes:
    if len(data) != 32:
        raise StateError(f"{path}: not a key flyte made (32 bytes); remove it and flyte makes another")
    return data


def delete(name: str, project: str | None = None, domain: str | None = None) -> None:
    path = _file(_folder(project, domain), name)
    try:  # (not is_file() then unlink(): another process may delete it in between)
        if path.is_dir():
            raise FileNotFoundError(path)
        path.unlink()
    except FileNotFoundError:
        raise SecretNotFoundError(_missing(name, project, domain, exact=True)) from None
    (path.parent / _TYPES / name).unlink(missing_ok=True)


def list_names(project: str | None = None, domain: str | None = None) -> list[str]:
    """The secrets stored in exactly this scope (names only; values are never listed)."""
    folder = _folder(project, domain)
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def get(name: str, project: str | None = None, domain: str | None = None) -> bytes:
    """The value a task in (project, domain) sees: the most specific scope that has it."""
    for scope in _lookup_order(project, domain):
        value = read(state_path("secrets", scope), name)
        if value is not None:
            return value
    raise SecretNotFoundError(_missing(name, project, domain))


def read(folder: Path, name: str) -> bytes | None:
    """The value of secret ``name`` in a scope's folder; None when it has none (also when
    another process deleted it after it was listed or checked)."""
    path = _file(folder, name)
    try:
        return path.read_bytes() if path.is_file() else None
    except FileNotFoundError:
        return None


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
