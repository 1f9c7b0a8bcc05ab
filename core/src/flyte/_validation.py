"""Small helpers shared by the value objects' converters and validators.

Every error names the parameter, shows the bad value and says what would be accepted, e.g.
``cpu: '5 cores' is not a Kubernetes quantity (accepted: 2, 0.5, "500m", "1.5")``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, NoReturn

from flyte.errors import ConfigurationError


def invalid(param: str, value: Any, accepted: str, problem: str | None = None) -> NoReturn:
    """Raise a ConfigurationError that names the parameter, the value and what is accepted."""
    shown = _show(value)
    what = problem or "is not valid"
    raise ConfigurationError(f"{param}: {shown} {what} (accepted: {accepted})")


def wrong_type(param: str, value: Any, accepted: str) -> NoReturn:
    """Raise a TypeError for a value of the wrong type."""
    raise TypeError(f"{param}: expected {accepted}, got {type(value).__name__} {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply ``convert`` unless the value is None."""

    def _convert(value: Any) -> Any:
        return None if value is None else convert(value)

    return _convert


def to_seconds(param: str, *, allow_zero: bool = False) -> Callable[[Any], timedelta | None]:
    """Converter: int/float seconds or timedelta -> timedelta (None stays None)."""

    def _convert(value: Any) -> timedelta | None:
        if value is None:
            return None
        if isinstance(value, bool):
            wrong_type(param, value, "seconds (int or float) or datetime.timedelta")
        if isinstance(value, (int, float)):
            value = timedelta(seconds=value)
        if not isinstance(value, timedelta):
            wrong_type(param, value, "seconds (int or float) or datetime.timedelta")
        if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
            invalid(param, value, "a positive duration", "must be positive")
        return value

    return _convert


def str_dict(param: str) -> Callable[[Any], dict[str, str] | None]:
    """Converter: a mapping of str to str, copied (None stays None)."""

    def _convert(value: Any) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            wrong_type(param, value, "a dict of str to str")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                invalid(param, k, "non-empty string keys", "has a key that is not a non-empty str")
            if not isinstance(v, str):
                wrong_type(f"{param}[{k!r}]", v, "str")
            out[k] = v
        return out

    return _convert


ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_var_dict(param: str) -> Callable[[Any], dict[str, str] | None]:
    """Converter: environment variables, names checked as a POSIX shell would."""
    base = str_dict(param)

    def _convert(value: Any) -> dict[str, str] | None:
        out = base(value)
        for name in out or ():
            if not ENV_VAR_NAME.match(name):
                invalid(
                    param,
                    name,
                    "letters, digits and _, not starting with a digit",
                    "is not a valid environment variable name",
                )
        return out

    return _convert


def str_tuple(param: str, value: Any) -> tuple[str, ...]:
    """A str or an iterable of str, as a tuple."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable):
        wrong_type(param, value, "a str or a list of str")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            wrong_type(f"{param} item", item, "str")
    return items


# Names that become one path component locally and a Kubernetes key or name on a cluster:
# project, domain, secret keys and groups, run names. No separators, no ".."; the length is
# Kubernetes' limit for a Secret's name and its data keys.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME = 253
NAME_RULE = f"letters, digits, '_', '-' and '.', starting with a letter or digit, at most {MAX_NAME} characters"


def safe_name(param: str, value: Any) -> str:
    """A name that is safe as a single path component (see :data:`NAME`), or a clear error."""
    if not isinstance(value, str):
        wrong_type(param, value, "a str")
    if len(value) > MAX_NAME:
        invalid(param, value, NAME_RULE, f"is {len(value)} characters long")
    if not NAME.fullmatch(value):
        invalid(param, value, NAME_RULE)
    return value


def positive_int(param: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        wrong_type(param, value, "int")
    if value < 0 or (value == 0 and not allow_zero):
        invalid(param, value, "an int >= 0" if allow_zero else "an int >= 1", "is out of range")
    return value
