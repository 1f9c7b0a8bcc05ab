"""The SMTP server local runs send ``flyte.notify.Email`` notifications through: the
``local.smtp`` section of the config file, or ``flyte.init(smtp={...})``. Imported only when one
is configured."""

from __future__ import annotations

from typing import Any

import attrs

from flyte._validation import invalid, is_bool, positive_int, wrong_type


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
    ssl: bool = attrs.field(default=False, validator=is_bool("smtp.ssl"))
    starttls: bool = attrs.field(default=False, validator=is_bool("smtp.starttls"))
    username: str | None = attrs.field(default=None, converter=_optional_str("smtp.username"))
    password: str | None = attrs.field(default=None, converter=_optional_str("smtp.password"), repr=False)
    password_env: str | None = attrs.field(default=None, converter=_optional_str("smtp.password_env"))
    sender: str | None = attrs.field(default=None, converter=_optional_str("smtp.sender"))

    @property
    def effective_port(self) -> int:
        return self.port or (465 if self.ssl else 587 if self.starttls else 25)


def to_smtp_settings(value: Any) -> SmtpSettings:
    """``smtp=``: a :class:`SmtpSettings`, or a dict of its fields (the config file's section)."""
    if isinstance(value, SmtpSettings):
        return value
    if not isinstance(value, dict):
        wrong_type("smtp", value, "a dict with host, port, ssl, starttls, username, password(_env), sender")
    known = {a.name for a in attrs.fields(SmtpSettings)}
    unknown = sorted(set(value) - known)
    if unknown:
        invalid("smtp", unknown, ", ".join(sorted(known)), "names unknown settings")
    return SmtpSettings(**value)
