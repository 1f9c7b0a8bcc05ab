"""A run's or action's phase as recorded (``"SUCCEEDED"``), that also equals the reference SDK's
:class:`flyte.models.ActionPhase` member (``ActionPhase.SUCCEEDED``).

The run store, the CLI's output and existing code speak the upper-case names; code written for
the reference SDK compares ``run.phase == ActionPhase.FAILED``. A :class:`Phase` is the string
itself (it prints, formats and serialises as ``"SUCCEEDED"``, hashes as it, and equals it), and
compares equal to its ActionPhase member in either order. Sets and dict keys match by the
upper-case string: ``ActionPhase`` members hash as their lower-case values.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte.models import ActionPhase


class Phase(str):
    """A recorded phase: ``Phase("FAILED") == "FAILED" == ActionPhase.FAILED``."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is str:  # the common case, without the import below (a run's page compares a few)
            return str.__eq__(self, other)
        from flyte.models import ActionPhase

        if isinstance(other, ActionPhase):
            return self.action_phase is other
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    @property
    def action_phase(self) -> ActionPhase | None:
        """The reference SDK's name for this phase (None for one it has no name for)."""
        from flyte.models import ActionPhase

        name = _AS_ACTION_PHASE.get(str(self), str(self).lower())
        return ActionPhase._value2member_map_.get(name)  # type: ignore[return-value]

    @property
    def is_terminal(self) -> bool:
        """Whether a run or action in this phase has ended (the reference SDK's property)."""
        phase = self.action_phase
        return phase is not None and phase.is_terminal

    def __reduce__(self) -> Any:  # pickles as itself, not as a plain str
        return (Phase, (str(self),))


# Recorded phases whose reference name is not their lower-case spelling. An action between
# attempts is still in flight: the reference reports it running.
_AS_ACTION_PHASE = {"RETRYING": "running"}


def phase(value: str | None) -> Phase | None:
    """``value`` as a :class:`Phase` (None stays None)."""
    return None if value is None else Phase(value)


def recorded(phases: Iterable[Any]) -> list[str]:
    """The store's spellings of phases given as ActionPhase members or names in any case
    (``[ActionPhase.FAILED, "succeeded"]`` -> ``["FAILED", "SUCCEEDED"]``). ``ActionPhase.RUNNING``
    also names ``RETRYING``; a name with no recorded spelling matches nothing."""
    from flyte.models import ActionPhase

    names: list[str] = []
    for value in phases:
        name = (value.value if isinstance(value, ActionPhase) else str(value)).upper()
        names += [name, *(r for r, a in _AS_ACTION_PHASE.items() if a.upper() == name)]
    return list(dict.fromkeys(names))


class Done:
    """Whether a run or action has ended, read either way: ``run.done()`` as the reference SDK
    calls it, or ``run.done`` as a bool (``if run.done:``, ``not run.done``, ``run.done == True``)
    as code written against this library before did. ``run.done is True`` does not hold: it
    is an object, not the bool itself (``bool(run.done)`` and ``run.done()`` are)."""

    __slots__ = ("_value",)

    def __init__(self, value: bool) -> None:
        self._value = value

    def __call__(self) -> bool:
        return self._value

    def __bool__(self) -> bool:
        return self._value

    def __eq__(self, other: object) -> bool:
        return self._value == (other._value if isinstance(other, Done) else other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return repr(self._value)


# The reference SDK's ``raw_phase`` is a protobuf enum (``flyteidl2.common.phase_pb2``); these are
# its numbers, so ``run.raw_phase == phase_pb2.ACTION_PHASE_SUCCEEDED`` holds without protobuf here.
class RawPhase(enum.IntEnum):
    """A phase as the reference SDK's protobuf enum numbers it (``ACTION_PHASE_SUCCEEDED == 5``)."""

    ACTION_PHASE_UNSPECIFIED = 0
    ACTION_PHASE_QUEUED = 1
    ACTION_PHASE_WAITING_FOR_RESOURCES = 2
    ACTION_PHASE_INITIALIZING = 3
    ACTION_PHASE_RUNNING = 4
    ACTION_PHASE_SUCCEEDED = 5
    ACTION_PHASE_FAILED = 6
    ACTION_PHASE_ABORTED = 7
    ACTION_PHASE_TIMED_OUT = 8
    ACTION_PHASE_PAUSED = 9
    ACTION_PHASE_RECOVERED = 10


def raw_phase(value: Phase) -> RawPhase:
    """The protobuf number of a recorded phase (``RETRYING`` is running, as the reference says)."""
    member = value.action_phase
    if member is None:
        return RawPhase.ACTION_PHASE_UNSPECIFIED
    return RawPhase[f"ACTION_PHASE_{member.name}"]
