"""``flyte.group``: name a set of actions, the way the reference SDK groups them in its UI."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flyte._context import current_group


@contextlib.contextmanager
def group(name: str) -> Iterator[None]:
    """Actions started inside the block are recorded with this group name (``flyte runs show``
    lists it); groups nest as ``outer/inner``. Works in sync and async code::

        with flyte.group("preprocess"):
            results = await asyncio.gather(*(clean(x) for x in data))
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"flyte.group: name={name!r} is not valid (accepted: a non-empty str)")
    outer = current_group.get()
    token = current_group.set(f"{outer}/{name}" if outer else name)
    try:
        yield
    finally:
        current_group.reset(token)
