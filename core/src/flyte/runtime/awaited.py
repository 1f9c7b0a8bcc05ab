"""Whether a call is awaited where it is made: ``await sync_task(...)`` in an async task.

A sync task called from async code blocks its caller and returns its value, as any sync call
does; awaiting that value then fails (``object str can't be used in 'await' expression``), far
from the cause. When the call site awaits the result at once, the caller meant
``await sync_task.aio(...)``, and that is what it gets. The call site is read from the calling
frame's bytecode: the instruction after the call is ``GET_AWAITABLE`` exactly when the call's
result is awaited (CPython 3.11+, which flyte requires).
"""

from __future__ import annotations

import dis
import inspect
import sys
from types import CodeType, FrameType

# (id of the code, offset of the call) -> (the code, whether the result is awaited): one dis
# per call site. Keyed by id, as hashing a code object hashes its bytecode and constants each
# time; the code is kept in the value so that id is not reused.
_sites: dict[tuple[int, int], tuple[CodeType, bool]] = {}
_AWAITABLE_CODE = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_getframe = sys._getframe


def call_awaited(depth: int) -> bool:
    """Whether the task call being made now has its result awaited at once by the code that
    made it. ``depth``: how many of flyte's frames lie between the caller of this function and
    the user's code (TaskTemplate.__call__, a caller's ``call``, ...); more of flyte's frames
    (remote.Task.__call__) are skipped. Only the user's frame is made a frame object: every
    frame looked at must be copied out when its function returns. A call site seen before
    costs one lookup (this runs on every sync call from async code)."""
    frame = _getframe(depth + 2)  # (this function, its caller, then ``depth`` of flyte's)
    known = _sites.get((id(frame.f_code), frame.f_lasti))
    if known is not None:
        return known[1]
    return _first_look(frame)


def _first_look(frame: FrameType | None) -> bool:
    while frame is not None and _is_flyte(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
    if frame is None:
        return False
    code = frame.f_code
    known = _sites.get((id(code), frame.f_lasti))  # reached past more of flyte's frames
    if known is not None:
        return known[1]
    # Only async code can await.
    awaited = bool(code.co_flags & _AWAITABLE_CODE) and _next_opname(code, frame.f_lasti) == "GET_AWAITABLE"
    _sites[(id(code), frame.f_lasti)] = (code, awaited)
    return awaited


def _is_flyte(module: str) -> bool:
    return module == "flyte" or module.startswith("flyte.")


def _next_opname(code: CodeType, offset: int) -> str | None:
    for instruction in dis.get_instructions(code):  # CACHE entries are not listed
        if instruction.offset > offset:
            return instruction.opname
    return None
