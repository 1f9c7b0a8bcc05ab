"""Small helpers shared by the value objects' converters and validators.

Every error names the parameter, shows the bad value and says what would be accepted, e.g.
``cpu: '5 cores' is not a Kubernetes quantity (accepted: 2, 0.5, "500m", "1.5")``.
"""

from __future__ import annotations

import math
import os
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, NoReturn

from flyte.errors import ConfigurationError, ConfigurationTypeError


def warn_at_user_code(message: str, category: type[Warning]) -> None:
    """Warn at the first caller outside flyte (and outside code attrs generates for a value
    object): the user's line that made the value, wherever the converter that warns was
    reached from (a constructor, ``clone``, ``evolve``)."""
    own = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        library = frame.f_globals.get("__name__", "").partition(".")[0] in ("attr", "attrs")  # evolve
        generated = name.startswith("<attrs generated")
        if not (library or generated or os.path.abspath(name).startswith(own)):
            break  # the user's file, or their <string>/<stdin>
        frame = frame.f_back
    if frame is None:  # only flyte's code on the stack
        warnings.warn(message, category, stacklevel=2)
        return
    module = frame.f_globals.get("__name__", "<unknown>")
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno, module=module)


def warn_at_definition(message: str, category: type[Warning], function: Any, module: str = "flyte") -> None:
    """Warn at ``function``'s definition (a task's body: the user's ``def`` line), so the
    warning points at the task it is about rather than at flyte's or a plugin's code, and is
    shown once there under the default filters. Without a code object (a builtin, a partial):
    at the caller's caller."""
    code = getattr(function, "__code__", None)
    if code is None:
        warnings.warn(message, category, stacklevel=3)
        return
    where = getattr(function, "__module__", None) or module
    # The function's module's registry, as warnings.warn would use: "default" then shows it once.
    scope = getattr(function, "__globals__", None)
    registry = scope.setdefault("__warningregistry__", {}) if isinstance(scope, dict) else None
    warnings.warn_explicit(
        message, category, code.co_filename, code.co_firstlineno, module=where, registry=registry, module_globals=scope
    )


def invalid(param: str, value: Any, accepted: str, problem: str | None = None) -> NoReturn:
    """Raise a ConfigurationError that names the parameter, the value and what is accepted."""
    shown = _show(value)
    what = problem or "is not valid"
    raise ConfigurationError(f"{param}: {shown} {what} (accepted: {accepted})")


def wrong_type(
    param: str, value: Any, accepted: str, error: type[ConfigurationTypeError] = ConfigurationTypeError
) -> NoReturn:
    """Raise a TypeError (a :class:`~flyte.errors.ConfigurationTypeError`, or the ``error``
    subclass given) for a value of the wrong type."""
    raise error(f"{param}: expected {accepted}, got {type(value).__name__} {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply ``convert`` unless the value is None."""

    def _convert(value: Any) -> Any:
        return None if value is None else convert(value)

    return _convert


# The longest duration any setting takes (timeouts, backoff, TTLs): longer is surely a slip
# (milliseconds given as seconds, an "infinite" 1e20) and would overflow timers downstream.
MAX_DURATION = timedelta(days=365)


def to_seconds(param: str, *, allow_zero: bool = False) -> Callable[[Any], timedelta | None]:
    """Converter: int/float seconds or timedelta -> timedelta (None stays None), positive
    (or zero when allowed) and at most :data:`MAX_DURATION`."""
    accepted = f"seconds (int or float) or a datetime.timedelta, {'0' if allow_zero else 'more than 0'} to 365 days"

    def _convert(value: Any) -> timedelta | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
            wrong_type(param, value, "seconds (int or float) or datetime.timedelta")
        if isinstance(value, float) and not math.isfinite(value):
            invalid(param, value, accepted, "is not a finite number of seconds")
        # Errors show the value as given (-1, not timedelta(days=-1, seconds=86399)).
        given = value
        if not isinstance(value, timedelta):
            if value < 0:
                invalid(param, given, accepted, "must be positive")
            if value > MAX_DURATION.total_seconds():
                invalid(param, given, accepted, "is too long")
            value = timedelta(seconds=value)
        if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
            invalid(param, given, accepted, "must be positive")
        if value > MAX_DURATION:
            invalid(param, given, accepted, "is too long")
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
        for name, text in (out or {}).items():
            if not ENV_VAR_NAME.fullmatch(name):
                invalid(
                    param,
                    name,
                    "letters, digits and _, not starting with a digit",
                    "is not a valid environment variable name",
                )
            if "\x00" in text:  # no process environment can hold one: the task would fail to start
                invalid(f"{param}[{name!r}]", text, "text without NUL characters", "contains a NUL character")
        return out

    return _convert


def no_control_characters(param: str, value: str) -> str:
    """``value`` unchanged if it has no control characters (newlines, tabs, NUL, ...): they
    would be rewritten, or split a line, wherever the value is written out."""
    for char in value:
        if unicodedata.category(char) == "Cc":
            invalid(param, value, "text without control characters", f"contains the control character {char!r}")
    return value


# Kubernetes label syntax (k8s.io/apimachinery validation): a value, and a key's name part.
LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE_RULE = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


def label_value(param: str, value: Any) -> str:
    """A valid Kubernetes label value (a queue name, ...)."""
    if not isinstance(value, str):
        wrong_type(param, value, "a str")
    if len(value) > 63 or not LABEL_VALUE.fullmatch(value) or not value.isascii():
        invalid(param, value, _LABEL_VALUE_RULE, "is not a valid Kubernetes label value")
    return value


def service_account(param: str, value: Any) -> str:
    """A Kubernetes ServiceAccount name: a DNS subdomain (lower-case) of at most 253 characters."""
    if not isinstance(value, str):
        wrong_type(param, value, "a str")
    if len(value) > 253 or not value.isascii() or not DNS_SUBDOMAIN.fullmatch(value):
        invalid(
            param,
            value,
            "a Kubernetes ServiceAccount name: at most 253 lower-case letters, digits, '-' or '.', "
            "starting and ending with a letter or digit (such as spark-driver)",
            "is not a valid ServiceAccount name",
        )
    return value


def action_concurrency(param: str, value: Any) -> int | None:
    """A run's cap on task bodies at once, as the reference SDK takes it: 0 (the default) or at
    least 2 (1 would deadlock a run whose parent holds the only slot while its children wait)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        wrong_type(param, value, "an int: 0 (the default) or at least 2")
    if value < 0 or value == 1:
        invalid(param, value, "0 (the default) or at least 2", "is out of range")
    return value


def qualified_name(param: str, key: Any) -> str:
    """A valid Kubernetes label or annotation key: ``[prefix/]name``, the prefix a DNS
    subdomain of at most 253 characters, the name as a label value but not empty."""
    if not isinstance(key, str):
        wrong_type(param, key, "a str")
    prefix, slash, name = key.rpartition("/")
    accepted = f"[prefix/]name, the prefix a DNS subdomain such as example.com, the name {_LABEL_VALUE_RULE}"
    if (
        not key.isascii()
        or not name
        or len(name) > 63
        or not LABEL_VALUE.fullmatch(name)
        or (slash and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)))
    ):
        invalid(param, key, accepted, "is not a valid Kubernetes label or annotation key")
    return key


def k8s_labels(param: str) -> Callable[[Any], dict[str, str] | None]:
    """Converter: Kubernetes labels, keys and values checked as the API server does."""
    as_dict = str_dict(param)

    def _convert(value: Any) -> dict[str, str] | None:
        out = as_dict(value)
        for key, item in (out or {}).items():
            qualified_name(f"{param} key", key)
            label_value(f"{param}[{key!r}]", item)
        return out

    return _convert


def k8s_annotations(param: str) -> Callable[[Any], dict[str, str] | None]:
    """Converter: Kubernetes annotations, keys checked as the API server does (values are free)."""
    as_dict = str_dict(param)

    def _convert(value: Any) -> dict[str, str] | None:
        out = as_dict(value)
        for key in out or ():
            qualified_name(f"{param} key", key)
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


def is_bool(param: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: the value is True or False (not 1, not "yes": a truthy str would
    silently mean True)."""

    def _check(_instance: Any, _attribute: Any, value: Any) -> None:
        if not isinstance(value, bool):
            wrong_type(param, value, "True or False")

    return _check


def positive_int(param: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        wrong_type(param, value, "int")
    if value < 0 or (value == 0 and not allow_zero):
        invalid(param, value, "an int >= 0" if allow_zero else "an int >= 1", "is out of range")
    return value
