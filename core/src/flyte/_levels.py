"""Which parameter may be set at which configuration level: the guide's table, in one place.

Three levels, most general first: the ``TaskEnvironment``, the ``@env.task`` decorator, and
``task.override(...)`` at invocation. For a parameter accepted at several levels, the most
specific level that sets it wins, replacing the whole value (``env_vars`` included).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from flyte.errors import LevelError

ENV = "TaskEnvironment(...)"
TASK = "@env.task(...)"
OVERRIDE = "task.override(...)"

LEVELS: dict[str, tuple[str, ...]] = {
    "name": (ENV,),
    "short_name": (TASK, OVERRIDE),
    "image": (ENV,),
    "resources": (ENV, OVERRIDE),
    "env_vars": (ENV, OVERRIDE),
    "secrets": (ENV, OVERRIDE),
    "cache": (ENV, TASK, OVERRIDE),
    "pod_template": (ENV, TASK, OVERRIDE),
    "reusable": (ENV, OVERRIDE),
    "depends_on": (ENV,),
    # Extra files shipped with the environment's code (templates, configs): rendered images
    # carry them beside the modules; a local run reads them where they are.
    "include": (ENV,),
    "description": (ENV,),
    "plugin_config": (ENV, OVERRIDE),
    "report": (TASK,),
    "max_inline_io_bytes": (TASK, OVERRIDE),
    "retries": (TASK, OVERRIDE),
    "timeout": (TASK, OVERRIDE),
    "triggers": (TASK,),
    "links": (TASK, OVERRIDE),
    "interruptible": (ENV, TASK, OVERRIDE),
    "queue": (ENV, TASK, OVERRIDE),
    # The Kubernetes ServiceAccount the task's pods run as (its cloud identity: IRSA, Workload
    # Identity); a local run has no pods and runs as the user.
    "service_account": (ENV, TASK, OVERRIDE),
    "docs": (TASK,),
    # The reference SDK's marker for the task a person starts runs from (UIs list it first;
    # `flyte deploy` shows it). It changes nothing about how the task runs.
    "entrypoint": (TASK, OVERRIDE),
}

# Settings that read back as given on environments and tasks (task.timeout == 60,
# env.secrets == "k"), as on the reference SDK, with its value when unset; everything that
# runs a task uses the canonical forms in task.spec and env.settings (a Timeout, Secrets).
AS_GIVEN: dict[str, Any] = {"timeout": 0, "secrets": None}
# An environment also reads its cache back as given (env.cache == "auto"; a task's reads as the
# resolved flyte.Cache, as on the reference SDK), and these unset settings as the reference's
# environment defaults.
ENV_AS_GIVEN: dict[str, Any] = {**AS_GIVEN, "cache": "disable", "include": ()}
ENV_UNSET: dict[str, Any] = {"interruptible": False}


def as_given(values: Mapping[str, Any], names: Mapping[str, Any] = AS_GIVEN) -> dict[str, Any]:
    """The raw values, before normalising, of the settings (``names``) that read back as given."""
    return {k: v for k, v in values.items() if k in names}


# Cannot be overridden at invocation while the environment is reusable: every replica of a
# reusable pool shares one container shape and one environment.
NOT_OVERRIDABLE_WHEN_REUSABLE = ("resources", "env_vars", "secrets")


def where(param: str) -> str:
    levels = LEVELS[param]
    return " or ".join(levels)


def check_unexpected(level: str, unexpected: Mapping[str, Any]) -> None:
    """Raise a TypeError for parameters this level does not take, saying where they belong."""
    for param in unexpected:
        if param in LEVELS:
            raise LevelError(f"{level.split('(')[0]}: `{param}` cannot be set here; set it in {where(param)}")
        close = difflib.get_close_matches(param, LEVELS, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        accepted = ", ".join(accepted_at(level))
        raise LevelError(f"{level.split('(')[0]}: unknown parameter `{param}`{hint} (accepted: {accepted})")


def given(values: Mapping[str, Any], sentinel: Any, *, none_unset: bool = False) -> dict[str, Any]:
    """The parameters the caller actually passed (not left at the sentinel). ``none_unset``:
    None is not a value either, as at the reference SDK's task and override levels, where a
    parameter passed as None inherits the level above (``task.override(cache=None)`` keeps the
    task's cache, ``@env.task(queue=None)`` takes the environment's queue)."""
    return {k: v for k, v in values.items() if v is not sentinel and not (none_unset and v is None)}


def accepted_at(level: str) -> Iterable[str]:
    return [p for p, levels in LEVELS.items() if level in levels]
