"""Secrets while a task runs: values as environment variables, or files that exist only then."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from flyte.errors import ConfigurationError, SecretNotFoundError
from flyte.runtime import mount_redirect, redact, secret_mounts, secret_store
from flyte.runtime.settings import LocalSettings
from flyte.secret import SECRET_ENV_VARS, SECRETS_MOUNT, Secret
from flyte.spec import TaskSpec


class SecretMounts:
    """The secret folders of one run's task attempts.

    Each attempt that mounts secrets gets a folder of its own (see :mod:`.secret_mounts`),
    removed when the attempt ends; :meth:`close` removes any still there when the run is
    interrupted, without waiting for its tasks to notice.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[Path] = set()

    @contextmanager
    def mounted(self, values: dict[str, bytes]) -> Iterator[Path]:
        folder = secret_mounts.task_folder(values)
        with self._lock:
            self._live.add(folder)
        try:
            yield folder
        finally:
            with self._lock:
                self._live.discard(folder)
            secret_mounts.remove(folder)

    def close(self) -> None:
        with self._lock:
            live, self._live = self._live, set()
        for folder in live:
            secret_mounts.remove(folder)


def _remember_injected(secret: Secret, environ: Mapping[str, str] = os.environ) -> None:
    """Mask a secret the platform injected (an env var from a secretKeyRef, a file of a mounted
    Secret volume) in what the task's records and logs keep."""
    if secret.env_var:
        value = environ.get(secret.env_var)
        if value:
            redact.remember(value)
        return
    path = Path(environ.get(mount_redirect.MOUNT_VAR) or str(secret.mount)) / secret.key
    with contextlib.suppress(OSError):  # not mounted: the task's own read fails and says so
        redact.remember(path.read_bytes())


# A Kubernetes Secret holds at most 1 MiB; a bigger file in the folder is not one of them.
_MOUNTED_MAX_BYTES = 1024 * 1024


def remember_container_secrets(environ: Mapping[str, str] = os.environ) -> bool:
    """In a rendered container, before the task (and so its secrets) is known: mask the values
    the pod was given, the env vars its manifest lists in ``FLYTE_SECRET_ENV_VARS`` and the
    files of the secrets volume (which holds nothing else). Whether there was any."""
    found = False
    for name in filter(None, environ.get(SECRET_ENV_VARS, "").split(",")):
        value = environ.get(name.strip())
        if value:
            redact.remember(value)
            found = True
    folder = Path(environ.get(mount_redirect.MOUNT_VAR) or SECRETS_MOUNT)
    with contextlib.suppress(OSError):  # no volume: no mounted secret
        for path in folder.iterdir():
            if path.name.startswith(".."):  # the projected volume's own ..data links
                continue
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_size <= _MOUNTED_MAX_BYTES:
                    data = path.read_bytes()
                    if data:
                        redact.remember(data)
                        found = True
    return found


def remember_handed(spec: TaskSpec, env: Mapping[str, str]) -> None:
    """In a pool worker: mask the secrets a job was handed (its ``env``: values, and the
    folder of its mounted ones) in what this process prints and sends, as the driver does."""
    for secret in spec.secrets or ():
        _remember_injected(secret, {**os.environ, **env})


def remember_declared(spec: TaskSpec, settings: LocalSettings) -> None:
    """Mask a task's secrets before its call is recorded, not only once its attempt is handed
    them: its inputs may hold one (a token given to the task that checks it), and the run's
    and action's records are written first. A secret that cannot be found is left to the
    attempt, which fails saying how to provide it."""
    for secret in spec.secrets:
        if settings.secret_source == "environment":
            _remember_injected(secret)
            continue
        with contextlib.suppress(SecretNotFoundError):
            redact.remember(fetch(secret, settings))


def fetch(secret: Secret, settings: LocalSettings) -> bytes:
    """A secret's value for a local run: from the secret store (the most specific scope that
    has it), else, for an environment-variable secret, from that variable in the environment
    flyte was started in (``export OPENAI_API_KEY=...`` before ``python main.py``, as the
    reference SDK's local runs read it). Neither: an error saying how to provide it."""
    try:
        return secret_store.get(secret.key, settings.project, settings.domain)
    except SecretNotFoundError as exc:
        name = secret.env_var
        value = getattr(os.environ, "base", os.environ).get(name) if name else None  # not a caller task's overlay
        if value is not None:
            return os.fsencode(value)  # the bytes exported (a str of os.environ holds them surrogate-escaped)
        if name:
            raise SecretNotFoundError(f"{exc}, or set ${name} in the environment flyte runs in") from None
        raise


# Linux's limit on one "NAME=value" string handed to a new process (MAX_ARG_STRLEN, 32 pages of
# 4 KiB, with its NUL): over it, every exec of the task's (subprocess, os.system) fails with
# E2BIG, and on a cluster the task's own container cannot start.
MAX_ENV_VAR_BYTES = 32 * 4096


def env_var_value(secret: Secret, value: bytes) -> str:
    """``value`` as the text of the secret's environment variable, or an error at the task's
    start naming the secret and its size (never the value) when a variable cannot carry it
    whole: bytes that are not UTF-8 (replacing them would hand the task another secret; the
    task's variables are text in ``os.environ``'s overlay, which ``os.environb`` does not see),
    or a value over ``MAX_ENV_VAR_BYTES``. A file mount carries any bytes, any size the store
    holds."""
    name = secret.env_var
    group = f", group={secret.group!r}" if secret.group else ""
    mount = f'flyte.Secret(key={secret.key!r}{group}, mount="{SECRETS_MOUNT}") and read {SECRETS_MOUNT}/{secret.key}'
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"secret {secret.key!r}: its value ({len(value)} bytes) is not UTF-8 (from byte {exc.start}), so the "
            f"environment variable ${name} cannot carry it exactly (accepted as an environment variable: UTF-8 "
            f"text); mount it as a file instead, which holds any bytes: {mount}"
        ) from None
    size = len(name.encode()) + 1 + len(value) + 1
    if size > MAX_ENV_VAR_BYTES:
        raise ConfigurationError(
            f"secret {secret.key!r}: its value is {len(value)} bytes, too long for the environment variable ${name} "
            f"(accepted: ${name}=value at most {MAX_ENV_VAR_BYTES} bytes, Linux's limit on one variable; over it "
            f"every process the task starts fails with E2BIG, 'Argument list too long'); mount it as a file "
            f"instead: {mount}"
        )
    return text


@contextmanager
def secret_environment(spec: TaskSpec, settings: LocalSettings, mounts: SecretMounts) -> Iterator[dict[str, str]]:
    """Fetch the task's secrets; yield the env vars to set (``FLYTE_SECRETS_MOUNT`` names the
    folder of its mounted secrets); the folder lives until the block exits."""
    if not spec.secrets:
        yield {}
        return
    if settings.secret_source == "environment":
        for secret in spec.secrets:  # the platform put them in this process's environment or files
            _remember_injected(secret)
        yield {}
        return
    env: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for secret in spec.secrets:
        value = fetch(secret, settings)
        redact.remember(value)  # kept out of tracebacks and logs the run records
        if secret.mount:
            files[secret.key] = value
        else:
            env[secret.env_var] = env_var_value(secret, value)
    if not files:
        yield env
        return
    mount_redirect.install()
    with mounts.mounted(files) as folder:
        env[mount_redirect.MOUNT_VAR] = str(folder)
        yield env
