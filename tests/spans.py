"""How many of the time spans a test's tasks recorded ((start, end) pairs) were open at once:
concurrency judged from what the tasks saw, never from a wall-clock limit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def max_overlap(spans: Iterable[Sequence[float]]) -> int:
    """The most spans open at one instant (a span ending as another starts does not overlap it)."""
    pairs = [(float(start), float(end)) for start, end in spans]
    events = sorted([(s, 1) for s, _ in pairs] + [(e, -1) for _, e in pairs], key=lambda x: (x[0], x[1]))
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most
