"""Secrets while a task runs: values as environment variables, or files that exist only then."""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flyte.runtime import secret_store
from flyte.runtime.settings import LocalSettings
from flyte.secret import SECRETS_MOUNT
from flyte.spec import TaskSpec


class SecretMounts:
    """Secret files under the mount folder, reference-counted across concurrent tasks.

    Locally the files go to ``/etc/flyte/secrets`` (the path the guide's code reads) when this
    user may create it; otherwise to a private temporary folder, with a warning naming it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[Path, int] = {}
        self._folder: Path | None = None

    def folder(self) -> Path:
        if self._folder is None:
            try:
                Path(SECRETS_MOUNT).mkdir(parents=True, exist_ok=True, mode=0o700)
                probe = Path(SECRETS_MOUNT) / f".probe-{os.getpid()}"
                probe.touch(mode=0o600)
                probe.unlink()
                self._folder = Path(SECRETS_MOUNT)
            except OSError:
                self._folder = Path(tempfile.mkdtemp(prefix="flyte-secrets-"))
                warnings.warn(
                    f"cannot write {SECRETS_MOUNT}; mounted secrets are placed in {self._folder} "
                    f"for local runs (read FLYTE_SECRETS_MOUNT to find them)",
                    stacklevel=3,
                )
        return self._folder

    @contextmanager
    def mounted(self, key: str, value: bytes) -> Iterator[Path]:
        path = self.folder() / key
        with self._lock:
            if self._users.get(path, 0) == 0:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as f:
                    f.write(value)
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            self._users[path] = self._users.get(path, 0) + 1
        try:
            yield path
        finally:
            with self._lock:
                self._users[path] -= 1
                if self._users[path] == 0:
                    del self._users[path]
                    path.unlink(missing_ok=True)


@contextmanager
def secret_environment(spec: TaskSpec, settings: LocalSettings, mounts: SecretMounts) -> Iterator[dict[str, str]]:
    """Fetch the task's secrets; yield the env vars to set; mounted files live until exit."""
    if not spec.secrets or settings.secret_source == "environment":
        yield {}
        return
    env: dict[str, str] = {}
    with _mounted_all(spec, settings, mounts, env):
        yield env


@contextmanager
def _mounted_all(spec: TaskSpec, settings: LocalSettings, mounts: SecretMounts, env: dict[str, str]) -> Iterator[None]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        for secret in spec.secrets:
            value = secret_store.get(secret.key, settings.project, settings.domain)
            if secret.mount:
                path = stack.enter_context(mounts.mounted(secret.key, value))
                env["FLYTE_SECRETS_MOUNT"] = str(path.parent)
            else:
                env[secret.env_var] = value.decode("utf-8", errors="replace")
        yield
