"""Aborting a run from outside its process: ``flyte abort run NAME``, ``Run.abort()``.

A run is driven by the process that started it (or, on Kubernetes, the process following its
object), so another process cannot stop it directly: it records the request on the run's row
(:func:`request`), and the run's own process, which checks for one about once a second
(:class:`AbortWatch`), stops the run as a cancel does: its tasks are cancelled, it is recorded
ABORTED with the reason, its cluster object is deleted, and ``flyte.run`` raises
:class:`~flyte.errors.ActionAbortedError`.
"""

from __future__ import annotations

import time
from typing import Any

from flyte.runtime import store as st

# How often a run's process looks for a request: a read of one row, once a second.
EVERY = 1.0
DEFAULT_REASON = "aborted by request"


def request(name: str, reason: str = DEFAULT_REASON) -> str:
    """Ask run ``name`` to stop, for ``reason``; its phase now (RUNNING until its process acts,
    or the phase it already ended in, which stays). Raises ValueError for an unknown run or an
    empty reason."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"abort: reason={reason!r} is not valid (accepted: a non-empty str)")
    row = st.request_abort(name, reason.strip())
    if row is None:
        raise ValueError(f"abort: run {name!r} is not recorded under this state root (flyte runs list shows runs)")
    status = st.effective_status(row)
    if status != row["status"]:  # its process died without recording the end: record it now
        with st.reader() as conn:
            st.mark_aborted(conn, name)
    return status


class AbortWatch:
    """Whether run ``name`` was asked to stop (by :func:`request`), read through ``store`` (the
    run's writer) at most once per :data:`EVERY` seconds."""

    def __init__(self, store: Any, name: str):
        self.store, self.name = store, name
        self.reason: str | None = None
        self._next = time.monotonic() + EVERY

    def requested(self) -> str | None:
        """The reason, once a request is seen (and from then on); None until then."""
        if self.reason is None and time.monotonic() >= self._next:
            self._next = time.monotonic() + EVERY
            self.reason = self.store.read(lambda conn: st.abort_request(conn, self.name))
        return self.reason
