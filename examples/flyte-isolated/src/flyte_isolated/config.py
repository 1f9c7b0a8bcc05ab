"""The plugin's config type: a frozen value object validated when it is created."""

from __future__ import annotations

import re
from typing import Any

import attrs

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"Isolated.env: expected a dict of str to str, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise ValueError(
                f"Isolated.env: {key!r} is not an environment variable name (accepted: letters, digits, _)"
            )
        if not isinstance(item, str):
            raise TypeError(f"Isolated.env[{key!r}]: expected a str, got {item!r}")
    return dict(value)


def _python(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(
            f"Isolated.python: {value!r} is not an interpreter path (accepted: a path such as /usr/bin/python3)"
        )
    return value


@attrs.frozen
class Isolated:
    """Run each attempt of the task in a fresh Python process.

    ``python``: the interpreter (default: the one running flyte). ``env``: extra environment
    variables for the child process.
    """

    python: str | None = attrs.field(default=None, converter=_python)
    env: dict[str, str] | None = attrs.field(
        default=None, converter=_env, eq=lambda d: tuple(sorted((d or {}).items()))
    )
