"""The traceback a run's error reaches the caller of ``flyte.run`` with: the user's frames (and
those of the libraries they call), without the runtime's between them.

An error raised in a task passes up through flyte's controller, asyncio and the run's thread
on its way out: some thirty frames that say nothing about the cause, printed above the one line
that does (a missing secret, a connector's "cannot log in", the user's own ``ValueError``).
The reference SDK prints a "Filtered traceback" for the same reason. An error that is not a
:class:`~flyte.errors.FlyteError` raised inside flyte itself is a bug of ours: it keeps every
frame. The run's records keep the full traceback either way (flyte.runtime.attempts).
"""

from __future__ import annotations

from types import FrameType, TracebackType

from flyte.errors import FlyteError

# Top-level packages whose frames are the runtime's, not the user's.
_RUNTIME = frozenset({"flyte", "flyteplugins", "asyncio", "concurrent", "threading", "contextvars"})


def _runtime(frame: FrameType) -> bool:
    return frame.f_globals.get("__name__", "").partition(".")[0] in _RUNTIME


def user_traceback(error: BaseException) -> TracebackType | None:
    """``error``'s traceback without the runtime's frames (unchanged when the error is flyte's
    own bug, or a library's raised with no frame of the user's on the way)."""
    tb = error.__traceback__
    entries: list[TracebackType] = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if not entries or (_runtime(entries[-1].tb_frame) and not isinstance(error, FlyteError)):
        return error.__traceback__
    kept = [t for t in entries if not _runtime(t.tb_frame)]
    if not kept:  # flyte's own error about the run (a missing secret): its message says it all
        return None if isinstance(error, FlyteError) else error.__traceback__
    chain: TracebackType | None = None
    for t in reversed(kept):
        chain = TracebackType(chain, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return chain
