"""Reusable environments: a warm pool of workers that runs many tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from flyte._validation import invalid, positive_int, to_seconds, wrong_type


def _replicas(value: Any) -> int | tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            invalid("ReusePolicy.replicas", value, "an int >= 1 or a (min, max) pair")
        low = positive_int("ReusePolicy.replicas[0]", value[0], allow_zero=True)
        high = positive_int("ReusePolicy.replicas[1]", value[1])
        if low > high:
            invalid("ReusePolicy.replicas", value, "a (min, max) pair with min <= max", "has min > max")
        return (low, high)
    if isinstance(value, bool) or not isinstance(value, int):
        wrong_type("ReusePolicy.replicas", value, "an int >= 1 or a (min, max) pair")
    return positive_int("ReusePolicy.replicas", value)


@attrs.frozen
class ReusePolicy:
    """Keep a pool of workers alive and route this environment's tasks to them.

    - ``replicas``: pool size, fixed (``3``) or autoscaled between ``(min, max)``.
    - ``concurrency``: tasks one worker runs at once; capacity is ``max replicas * concurrency``.
    - ``scaledown_ttl``: an idle worker above the minimum stops after this long.
    - ``idle_ttl``: the whole pool stops after this long without tasks (None: never).

    Durations are seconds (int) or ``timedelta``.
    """

    replicas: int | tuple[int, int] = attrs.field(default=2, converter=_replicas)
    idle_ttl: timedelta | None = attrs.field(
        default=timedelta(seconds=30), converter=to_seconds("ReusePolicy.idle_ttl")
    )
    concurrency: int = attrs.field(default=1, converter=lambda v: positive_int("ReusePolicy.concurrency", v))
    scaledown_ttl: timedelta | None = attrs.field(
        default=timedelta(seconds=30), converter=to_seconds("ReusePolicy.scaledown_ttl")
    )

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
