"""The ``cache=`` setting: whether and how a task's results are reused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import attrs

from flyte._cache.policy import CachePolicy, FunctionBodyPolicy
from flyte._validation import invalid, is_bool, str_tuple, wrong_type

CacheBehavior = Literal["auto", "override", "disable"]
BEHAVIORS: tuple[str, ...] = ("auto", "override", "disable")
# Everyday words for on and off that the reference SDK takes (any case) for the two it names;
# public examples write cache="enable".
ALIASES = {
    **dict.fromkeys(("enable", "enabled", "on", "true", "yes"), "auto"),
    **dict.fromkeys(("off", "false", "no", "none"), "disable"),
}


def _behavior(value: Any) -> str:
    value = ALIASES.get(value.lower(), value) if isinstance(value, str) and value not in BEHAVIORS else value
    if value not in BEHAVIORS:
        invalid("cache.behavior", value, f'"auto", "override" or "disable"; aliases: {", ".join(ALIASES)}')
    return value


def _policies(value: Any) -> tuple[CachePolicy, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else (value,)
    for item in items:
        if not callable(getattr(item, "get_version", None)):
            wrong_type("cache.policies", item, "objects with a get_version(salt, params) method")
    return tuple(items)


def _optional_str(param: str):
    def _check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            wrong_type(param, value, "a str")

    return _check


def _max_age(value: Any) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, timedelta)):
        wrong_type("cache.max_age", value, "a timedelta, a whole number of seconds, or None")
    age = timedelta(seconds=value) if isinstance(value, int) else value
    if age < timedelta(0):
        invalid("cache.max_age", value, "zero (no age limit) or a positive age", "is negative")
    return age


@attrs.frozen
class Cache:
    """Reuse a task's outputs when it runs again with the same inputs.

    - ``behavior``: ``"auto"`` (version from ``policies``, by default a hash of the function's
      code), ``"override"`` (version is ``version_override``, required), ``"disable"``.
    - ``serialize``: identical concurrent runs execute once; the others wait for its result.
    - ``ignored_inputs``: input names left out of the key.
    - ``salt``: any string mixed into the key, to keep caches apart.
    - ``max_age``: the oldest result this task reuses (a ``timedelta`` or seconds); an older
      entry is recomputed and replaced. ``None`` or zero: no age limit. Not part of the key:
      tasks that differ only in it share entries, each judging their age by its own limit.
    """

    behavior: str = attrs.field(converter=_behavior)
    version_override: str | None = attrs.field(default=None, validator=_optional_str("cache.version_override"))
    serialize: bool = attrs.field(default=False, validator=is_bool("cache.serialize"))
    ignored_inputs: tuple[str, ...] = attrs.field(default=(), converter=lambda v: str_tuple("cache.ignored_inputs", v))
    salt: str = attrs.field(default="", validator=_optional_str("cache.salt"))
    policies: tuple[CachePolicy, ...] = attrs.field(default=None, converter=_policies)
    max_age: timedelta | None = attrs.field(default=None, converter=_max_age)

    def __attrs_post_init__(self) -> None:
        if self.behavior == "override" and not self.version_override:
            invalid(
                "cache.version_override",
                self.version_override,
                'a non-empty version string, e.g. Cache(behavior="override", version_override="v1")',
                'is required when behavior="override"',
            )
        if self.behavior == "auto" and not self.policies:
            object.__setattr__(self, "policies", (FunctionBodyPolicy(),))

    @property
    def enabled(self) -> bool:
        return self.behavior != "disable"

    # The reference SDK's method names for the same two facts.
    def is_enabled(self) -> bool:
        """Whether results are reused (``behavior`` is not ``"disable"``)."""
        return self.enabled

    def get_ignored_inputs(self) -> tuple[str, ...]:
        """The input names left out of the cache key."""
        return self.ignored_inputs


def to_cache(value: Any) -> Cache:
    """``cache=`` accepts a Cache or ``"auto"``/``"override"``/``"disable"`` (False or None is
    ``"disable"``, as the reference SDK reads a value that is not set). True is refused, as the
    reference SDK does: ``"auto"`` says which caching is meant."""
    if isinstance(value, Cache):
        return value
    if value is False or value is None:
        return Cache("disable")
    if isinstance(value, str):
        if value == "override":
            invalid(
                "cache", value, 'flyte.Cache(behavior="override", version_override="v1")', "needs a version_override"
            )
        if value in BEHAVIORS or value.lower() in ALIASES:
            return Cache(value)
        invalid("cache", value, f'"auto", "disable" or a flyte.Cache; aliases: {", ".join(ALIASES)}')
    wrong_type("cache", value, '"auto", "disable" or a flyte.Cache (cache=True: write cache="auto")')


# The forms ``cache=`` accepts: a behaviour name or a Cache.
CacheRequest = CacheBehavior | Cache
