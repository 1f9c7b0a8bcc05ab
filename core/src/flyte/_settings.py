"""Normalisers for every configuration parameter, shared by the three levels.

Each turns the forms the guide allows into one canonical value (``timeout=60`` into
``Timeout(max_runtime=60s)``, ``secrets="k"`` into ``(Secret("k"),)``) and rejects the rest
with an error naming the parameter, the value and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flyte._cache import to_cache
from flyte._validation import env_var_dict, invalid, label_value, positive_int, service_account, wrong_type
from flyte.docs import to_documentation, to_links
from flyte.image import to_image
from flyte.pod_template import PodTemplate
from flyte.resources import Resources
from flyte.retry import to_retry_strategy
from flyte.reuse import ReusePolicy
from flyte.secret import to_secrets
from flyte.timeout import to_timeout
from flyte.triggers import to_triggers

DEFAULT_MAX_INLINE_IO_BYTES = 10 * 1024 * 1024
MAX_DESCRIPTION = 255
ENV_NAME = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$|^[a-z0-9]+(?:-[a-z0-9]+)*$")


def env_name(value: Any) -> str:
    if not isinstance(value, str):
        wrong_type("name", value, "a str")
    if not ENV_NAME.fullmatch(value):
        invalid("name", value, 'snake_case or kebab-case of lower-case letters and digits, e.g. "my_env" or "my-env"')
    return value


def _resources(value: Any) -> Resources | None:
    if value is None or isinstance(value, Resources):
        return value
    wrong_type("resources", value, "a flyte.Resources")


def _bool(param: str, *, optional: bool = False) -> Callable[[Any], Any]:
    def _convert(value: Any) -> Any:
        if value is None and optional:
            return None
        if not isinstance(value, bool):
            wrong_type(param, value, "True or False")
        return value

    return _convert


def _text(param: str, max_len: int | None = None) -> Callable[[Any], str | None]:
    def _convert(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            wrong_type(param, value, "a non-empty str")
        if max_len is not None and len(value) > max_len:
            invalid(param, value, f"at most {max_len} characters", f"is {len(value)} characters long")
        return value

    return _convert


def _queue(value: Any) -> str | None:
    """A queue name is rendered as a label value and a node selector: it must be a valid one."""
    if value == "":
        invalid("queue", value, "a queue name such as gpu-pool", "is empty")
    return None if value is None else label_value("queue", value)


def _include(value: Any) -> tuple[str, ...]:
    """Extra files of the environment's code: a sequence of paths, folders or glob patterns."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        wrong_type("include", value, f"a sequence of paths, folders or glob patterns, such as ({value!r},)")
    try:
        entries = tuple(value)
    except TypeError:
        wrong_type("include", value, "a sequence of paths, folders or glob patterns")
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            wrong_type("include", entry, "a non-empty str (a path, a folder or a glob pattern) in each entry")
    return entries


def _service_account(value: Any) -> str | None:
    return None if value is None else service_account("service_account", value)


def _pod_template(value: Any) -> PodTemplate | str | None:
    if value is None or isinstance(value, PodTemplate):
        return value
    if isinstance(value, str) and value.strip():  # the name of a PodTemplate in the cluster
        return value
    wrong_type("pod_template", value, "a flyte.PodTemplate or the name of a cluster pod template")


def _reusable(value: Any) -> ReusePolicy | str | None:
    if value is None or isinstance(value, ReusePolicy):
        return value
    if value == "off":
        return "off"
    wrong_type("reusable", value, 'a flyte.ReusePolicy, or "off" (in task.override)')


def _max_inline_io_bytes(value: Any) -> int:
    return positive_int("max_inline_io_bytes", value)


NORMALISE: dict[str, Callable[[Any], Any]] = {
    "name": env_name,
    "short_name": _text("short_name"),
    "image": to_image,
    "resources": _resources,
    "env_vars": env_var_dict("env_vars"),
    "secrets": to_secrets,
    "cache": to_cache,
    "pod_template": _pod_template,
    "reusable": _reusable,
    "description": _text("description", MAX_DESCRIPTION),
    "report": _bool("report"),
    "max_inline_io_bytes": _max_inline_io_bytes,
    "retries": to_retry_strategy,
    "timeout": to_timeout,
    "triggers": to_triggers,
    "links": to_links,
    "interruptible": _bool("interruptible", optional=True),
    "queue": _queue,
    "service_account": _service_account,
    "include": _include,
    "docs": to_documentation,
    "entrypoint": _bool("entrypoint"),
}


def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Every given parameter in canonical form (``depends_on`` and ``plugin_config`` are
    checked by the environment, which knows their context)."""
    return {k: (NORMALISE[k](v) if k in NORMALISE else v) for k, v in values.items()}
