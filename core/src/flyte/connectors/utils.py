"""The reference SDK's phase helpers for connector authors (``flyte.connectors.utils``): phases
are flyteidl2 ``TaskExecution`` enum numbers, which flyte reads without flyteidl2."""

from __future__ import annotations

from typing import Any

from flyte.connectors._idl import PHASE_NUMBERS, phase_name

_TERMINAL = ("SUCCEEDED", "ABORTED", "FAILED")


def is_terminal_phase(phase: Any) -> bool:
    """Whether ``phase`` (an enum number or name) is SUCCEEDED, ABORTED or FAILED."""
    return phase_name(phase) in _TERMINAL


def convert_to_flyte_phase(state: str) -> int:
    """A service's state word as a ``TaskExecution`` phase number, as the reference SDK maps it."""
    word = state.lower()
    if word in ("failed", "timeout", "timedout", "canceled", "cancelled", "skipped"):
        return PHASE_NUMBERS["FAILED"]
    if word == "internal_error":
        return PHASE_NUMBERS["RETRYABLE_FAILED"]
    if word in ("done", "succeeded", "success", "completed"):
        return PHASE_NUMBERS["SUCCEEDED"]
    if word in ("running", "terminating"):
        return PHASE_NUMBERS["RUNNING"]
    if word == "pending":
        return PHASE_NUMBERS["INITIALIZING"]
    raise ValueError(
        f"state: {state!r} is not accepted (failed, timeout, timedout, canceled, cancelled, skipped, "
        "internal_error, done, succeeded, success, completed, running, terminating, pending)"
    )
