"""What ``flyte.init()`` chose: the backend and the local runtime's settings."""

from __future__ import annotations

from typing import Any

import attrs

from flyte._validation import invalid, positive_int, safe_name, to_seconds, wrong_type


def _optional_limit(value: Any) -> int | None:
    return None if value is None else positive_int("max_concurrency", value)


def _project(value: Any) -> str:
    return safe_name("project", value)


def _domain(value: Any) -> str:
    return safe_name("domain", value)


def _smtp_host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        wrong_type("smtp.host", value, 'a host name or address such as "smtp.example.com"')
    return value


def _smtp_port(value: Any) -> int | None:
    if value is None:
        return None
    port = positive_int("smtp.port", value)
    if port > 65535:
        invalid("smtp.port", value, "1 to 65535 (e.g. 25, 465, 587)", "is out of range")
    return port


def _optional_str(param: str) -> Any:
    def convert(value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not value):
            wrong_type(param, "***" if param == "smtp.password" else value, "a non-empty str or None")
        return value

    return convert


@attrs.frozen(kw_only=True)
class SmtpSettings:
    """The SMTP server local runs send ``flyte.notify.Email`` notifications through (the
    ``local.smtp`` section of the config file, or ``flyte.init(smtp={...})``).

    - ``host``, ``port`` (default 465 with ``ssl``, else 587 with ``starttls``, else 25)
    - ``ssl``: connect over TLS; ``starttls``: upgrade the connection with STARTTLS
    - ``username`` and ``password`` (or ``password_env``: the environment variable holding it,
      read when sending, so the file need not hold the secret); the password is never shown
    - ``sender``: the ``From`` address (default ``flyte@<this host>``)
    """

    host: str = attrs.field(converter=_smtp_host)
    port: int | None = attrs.field(default=None, converter=_smtp_port)
    ssl: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    starttls: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    username: str | None = attrs.field(default=None, converter=_optional_str("smtp.username"))
    password: str | None = attrs.field(default=None, converter=_optional_str("smtp.password"), repr=False)
    password_env: str | None = attrs.field(default=None, converter=_optional_str("smtp.password_env"))
    sender: str | None = attrs.field(default=None, converter=_optional_str("smtp.sender"))

    @property
    def effective_port(self) -> int:
        return self.port or (465 if self.ssl else 587 if self.starttls else 25)


def _smtp(value: Any) -> SmtpSettings | None:
    if value is None or isinstance(value, SmtpSettings):
        return value
    if not isinstance(value, dict):
        wrong_type("smtp", value, "a dict with host, port, ssl, starttls, username, password(_env), sender")
    known = {a.name for a in attrs.fields(SmtpSettings)}
    unknown = sorted(set(value) - known)
    if unknown:
        invalid("smtp", unknown, ", ".join(sorted(known)), "names unknown settings")
    return SmtpSettings(**value)


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
    - ``smtp``: the server ``flyte.notify.Email`` is sent through (:class:`SmtpSettings`);
      ``notification_timeout``: how long one notification's delivery may take.
    """

    max_concurrency: int | None = attrs.field(default=None, converter=_optional_limit)
    strict_dependencies: bool = False
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
    smtp: SmtpSettings | None = attrs.field(default=None, converter=_smtp)
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
