"""``Isolated``: the ``plugin_config`` that runs a task in a fresh Python process."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from flyte.extend import FrozenDict


def _python(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"Isolated.python: {value!r} is not an interpreter "
            "(accepted: None for the current one, or a path or command name such as 'python3.12')"
        )
    return value


def _env(value: Any) -> FrozenDict | None:
    if value is None:
        return None
    accepted = "None or a dict of str to str, e.g. {'OMP_NUM_THREADS': '1'}"
    if not isinstance(value, Mapping):
        raise TypeError(f"Isolated.env: {value!r} is not a dict (accepted: {accepted})")
    for key, item in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise ValueError(f"Isolated.env: key {key!r} is not an environment variable name (accepted: {accepted})")
        if not isinstance(item, str):
            raise TypeError(f"Isolated.env[{key!r}]: {item!r} is not a str (accepted: {accepted})")
    return FrozenDict(value)  # a private, immutable copy: the caller's dict may change later


@attrs.frozen
class Isolated:
    """Run each attempt of the task in a new Python process, then return its result.

    ``python`` is the interpreter (None: the one running flyte, ``sys.executable``); it must
    be able to import ``cloudpickle`` and whatever the task imports. ``env`` is added to the
    child's environment, over the task's own environment variables and secrets.
    """

    python: str | None = attrs.field(default=None, converter=_python)
    env: FrozenDict | None = attrs.field(default=None, converter=_env)

    def interpreter(self) -> str:
        """The interpreter this config runs tasks with."""
        return self.python or sys.executable
