"""Reading what a reference-SDK connector hands back in flyteidl2's shapes, without flyteidl2:
phases as ``TaskExecution`` enum numbers or names, log links as objects with ``name`` and
``uri``, log pages as ``GetTaskLogsResponse``-like objects (``body.lines[].message``,
``header.token``). Anything that reads the same way is accepted (duck typing)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flyte.plugin_types import ABORTED, FAILED, QUEUED, RUNNING, SUCCEEDED, LogLink

# flyteidl2.core.execution_pb2.TaskExecution.Phase
PHASE_NUMBERS = {
    "UNDEFINED": 0,
    "QUEUED": 1,
    "RUNNING": 2,
    "SUCCEEDED": 3,
    "ABORTED": 4,
    "FAILED": 5,
    "INITIALIZING": 6,
    "WAITING_FOR_RESOURCES": 7,
    "RETRYABLE_FAILED": 8,
}
_NAMES = {number: name for name, number in PHASE_NUMBERS.items()}

# flyteidl2 phase -> (the connector runtime's phase, retryable)
_OURS = {
    "QUEUED": (QUEUED, False),
    "WAITING_FOR_RESOURCES": (QUEUED, False),
    "INITIALIZING": (QUEUED, False),
    "RUNNING": (RUNNING, False),
    "SUCCEEDED": (SUCCEEDED, False),
    "ABORTED": (ABORTED, False),
    "FAILED": (FAILED, False),
    "RETRYABLE_FAILED": (FAILED, True),
}
ACCEPTED_PHASES = ", ".join(f"{name}={PHASE_NUMBERS[name]}" for name in _OURS)


def phase_name(value: Any) -> str | None:
    """The flyteidl2 name of a phase given as its number, its name or an enum member; None if
    it is none of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _NAMES.get(int(value))
    if isinstance(value, str):
        name = value.strip().upper().removeprefix("PHASE_")
        return name if name in PHASE_NUMBERS else None
    name = getattr(value, "name", None)  # a Python enum member
    return phase_name(name) if isinstance(name, str) else None


def runtime_phase(value: Any) -> tuple[str, bool] | None:
    """``(phase, retryable)`` for the connector runtime, or None for a value that is not a phase
    a connector may report (UNDEFINED included: it says nothing about the work)."""
    name = phase_name(value)
    return _OURS.get(name) if name else None


def log_links(value: Any) -> tuple[LogLink, ...]:
    """``Resource.log_links`` as LogLinks: objects with ``name`` and ``uri``, or a dict."""
    if not value:
        return ()
    if isinstance(value, Mapping):
        return tuple(LogLink(str(k), str(v)) for k, v in value.items())
    links = []
    for link in value:
        name, uri = getattr(link, "name", None), getattr(link, "uri", None)
        if not isinstance(uri, str):
            raise TypeError(
                f"Resource.log_links: {link!r} is not accepted (objects with .name and .uri, such as "
                "flyteidl2's TaskLog, or a dict of name -> uri)"
            )
        links.append(LogLink(str(name or uri), uri))
    return tuple(links)


def _part(message: Any, field: str) -> Any:
    """``message.field`` when it is set (a protobuf oneof's unset side reads as an empty message)."""
    has_field = getattr(message, "HasField", None)
    if has_field is not None:
        try:
            if not has_field(field):
                return None
        except ValueError:  # not a field of this message
            return None
    return getattr(message, field, None)


def log_page(response: Any) -> tuple[Iterator[str], str]:
    """The lines of one ``GetTaskLogsResponse``-like page, and the next page's token ("" for none)."""
    body = _part(response, "body")
    lines = getattr(body, "lines", None) or ()
    header = _part(response, "header")
    token = getattr(header, "token", "") or ""
    return (str(getattr(line, "message", line)) for line in lines), str(token)
