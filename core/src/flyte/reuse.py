"""Reusable environments: a warm pool of workers that runs many tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from flyte._validation import invalid, positive_int, to_seconds, wrong_type

MAX_REPLICAS = 1000
MAX_CONCURRENCY = 1000


def _at_most(param: str, most: int, value: Any, *, allow_zero: bool = False) -> int:
    number = positive_int(param, value, allow_zero=allow_zero)
    if number > most:
        invalid(param, value, f"an int from {0 if allow_zero else 1} to {most:,}", "is too large")
    return number


def _replicas(value: Any) -> int | tuple[int, int]:
    if isinstance(value, list):  # refused as the reference SDK does: a pair is a tuple
        invalid("ReusePolicy.replicas", value, "an int >= 1 or a (min, max) tuple", "is a list")
    if isinstance(value, tuple):
        if len(value) != 2:
            invalid("ReusePolicy.replicas", value, "an int >= 1 or a (min, max) pair")
        low = _at_most("ReusePolicy.replicas[0]", MAX_REPLICAS, value[0], allow_zero=True)
        high = _at_most("ReusePolicy.replicas[1]", MAX_REPLICAS, value[1])
        if low > high:
            invalid("ReusePolicy.replicas", value, "a (min, max) pair with min <= max", "has min > max")
        return (low, high)
    if isinstance(value, bool) or not isinstance(value, int):
        wrong_type("ReusePolicy.replicas", value, "an int >= 1 or a (min, max) pair")
    return _at_most("ReusePolicy.replicas", MAX_REPLICAS, value)


SCOPES = ("global", "run")


def _scope(value: Any) -> str:
    if value not in SCOPES:
        invalid("ReusePolicy.scope", value, '"global" (one pool for every run) or "run" (a pool per run)')
    return value


@attrs.frozen
class ReusePolicy:
    """Keep a pool of workers alive and route this environment's tasks to them.

    - ``replicas``: pool size, fixed (``3``) or autoscaled between ``(min, max)``.
    - ``concurrency``: tasks one worker runs at once; capacity is ``max replicas * concurrency``.
    - ``scaledown_ttl``: an idle worker above the minimum stops after this long.
    - ``idle_ttl``: the whole pool stops after this long without tasks (None: never).
    - ``scope``: ``"global"`` (default): the pool serves every run of the process that owns
      it; ``"run"``: each run gets a pool of its own, stopped when the run ends.

    Durations are seconds (int) or ``timedelta``.
    """

    replicas: int | tuple[int, int] = attrs.field(default=2, converter=_replicas)
    idle_ttl: timedelta | None = attrs.field(
        default=timedelta(seconds=30), converter=to_seconds("ReusePolicy.idle_ttl")
    )
    concurrency: int = attrs.field(
        default=1, converter=lambda v: _at_most("ReusePolicy.concurrency", MAX_CONCURRENCY, v)
    )
    scaledown_ttl: timedelta | None = attrs.field(
        default=timedelta(seconds=30), converter=to_seconds("ReusePolicy.scaledown_ttl")
    )
    scope: str = attrs.field(default="global", converter=_scope)

    @property
    def min_replicas(self) -> int:
        return self.replicas[0] if isinstance(self.replicas, tuple) else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.replicas[1] if isinstance(self.replicas, tuple) else self.replicas

    @property
    def capacity(self) -> int:
        """The most tasks the pool runs at once."""
        return self.max_replicas * self.concurrency
