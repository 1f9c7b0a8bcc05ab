"""What ``flyte.init()`` chose: the backend and the local runtime's settings."""

from __future__ import annotations

from typing import Any

import attrs

from flyte._validation import is_bool, positive_int, safe_name, to_seconds


def _optional_limit(value: Any) -> int | None:
    return None if value is None else positive_int("max_concurrency", value)


def _project(value: Any) -> str:
    return safe_name("project", value)


def _domain(value: Any) -> str:
    return safe_name("domain", value)


def _smtp(value: Any) -> Any:
    if value is None:
        return None
    from flyte.runtime.smtp import to_smtp_settings  # only when a server is configured

    return to_smtp_settings(value)


# How long one notification may take to deliver when a run ends (a slow endpoint never holds
# the run's end longer than about this).
DEFAULT_NOTIFICATION_TIMEOUT = 10.0
_timeout_seconds = to_seconds("notification_timeout")


def _notification_timeout(value: Any) -> Any:
    return _timeout_seconds(DEFAULT_NOTIFICATION_TIMEOUT if value is None else value)


@attrs.frozen
class LocalSettings:
    """Settings of the local backend.

    - ``max_concurrency``: task bodies running at once (None: no cap). A task waiting for a
      slot is queued; ``Timeout.max_queued_time`` bounds that wait. A parent waiting for its
      children gives its slot up meanwhile, so nesting never deadlocks.
    - ``strict_dependencies``: calling a task of an environment not reachable through
      ``depends_on`` is an error instead of a warning.
    - ``storage``: where ``flyte.io.File``/``Dir``/``DataFrame`` data goes (an fsspec URL or
      path; default ``<state root>/storage``); each run writes under ``<storage>/<run name>/``.
    - ``storage_configs``: object-store settings (``flyte.storage.S3/GCS/ABFS``), one per provider.
    - ``project``/``domain``: scope for secrets.
    - ``smtp``: the server ``flyte.notify.Email`` is sent through
      (:class:`flyte.runtime.smtp.SmtpSettings`);
      ``notification_timeout``: how long one notification's delivery may take.
    """

    max_concurrency: int | None = attrs.field(default=None, converter=_optional_limit)
    strict_dependencies: bool = attrs.field(default=False, validator=is_bool("strict_dependencies"))
    storage: str | None = None
    storage_configs: tuple[Any, ...] = ()
    # Names (they scope secrets, i.e. folders of the local store): checked like Secret keys.
    project: str = attrs.field(default="default", converter=_project)
    domain: str = attrs.field(default="development", converter=_domain)
    # "store": secrets come from the local secret store; "environment": the platform already
    # injected them (a rendered container: env vars from secretKeyRef, files at the mount).
    secret_source: str = "store"
    backend: str = "local"
    kubernetes: dict[str, Any] | None = None
    smtp: Any = attrs.field(default=None, converter=_smtp)  # a flyte.runtime.smtp.SmtpSettings
    # None: the default (a config file without the key, flyte.init without the argument).
    notification_timeout: Any = attrs.field(default=None, converter=_notification_timeout)


_current: LocalSettings | None = None


def current() -> LocalSettings:
    """The settings of the last ``flyte.init``; local defaults when it was never called."""
    return _current or LocalSettings()


def set_current(settings: LocalSettings) -> None:
    global _current
    _current = settings


def is_initialized() -> bool:
    return _current is not None
