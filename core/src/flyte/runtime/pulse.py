"""A running run's pulse: its heartbeat in the run store and its page on disk, kept fresh.

The heartbeat (``runs.last_seen``) is what a run killed without warning is recorded as having
ended at; the page (``Run.url``) is written once the run has gone on for a moment (the first
tick, a tenth of a second in) and rewritten while it goes, so a browser pointed at the file
follows it without a server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flyte.runtime import page
from flyte.runtime.written import WrittenRun

logger = logging.getLogger("flyte.runtime.pulse")

EVERY = 1.0  # seconds between heartbeats and page refreshes
# A page of a very large run takes a while to write: it is rewritten at most once per this many
# times its own writing time, so refreshing it takes at most 1/PAGE_SHARE of the process.
PAGE_SHARE = 20

_trigger: ContextVar[str | None] = ContextVar("flyte_starting_trigger", default=None)


@contextmanager
def started_by(trigger: str) -> Iterator[None]:
    """Record ``trigger`` as what started the runs begun in this block (the scheduler's)."""
    token = _trigger.set(trigger)
    try:
        yield
    finally:
        _trigger.reset(token)


class RunPulse:
    """Called from the thread that waits for the run: :meth:`tick` as often as it likes (the
    first tick writes the run's first page: a run that ends before it gets only its final
    page, so a short run does not pay for a page nobody could open)."""

    def __init__(self, store: Any, name: str, task: str):
        self.store, self.name = store, name
        trigger = _trigger.get()
        if trigger is not None:
            store.set_run_trigger(name, trigger)
        now = time.monotonic()
        self._beat = now + EVERY
        self._page = now + EVERY
        self._first_page_of: str | None = task  # the task, until the first page is written
        self._page_failed = False

    def tick(self) -> None:
        if self._first_page_of is not None:
            task, self._first_page_of = self._first_page_of, None
            self._write_page(page.write_first_page, self.name, task)
        now = time.monotonic()
        if now < self._beat:
            return
        self._beat = now + EVERY
        self.store.heartbeat(self.name)
        if now >= self._page:
            self._write_page(page.write_run_page, self.name, self.store)
            took = time.monotonic() - now
            self._page = time.monotonic() + max(EVERY, took * PAGE_SHARE)

    def final_page(self, written: WrittenRun | None = None) -> None:
        """The page of the ended run (recorded first: the page reads the store, or is made
        from ``written``, the rows its last commit wrote, :meth:`RunStore.flush`'s)."""
        self._write_page(page.write_run_page, self.name, self.store, written)

    def _write_page(self, write: Callable[..., str], *args: Any) -> None:
        # The page is a view of what the store holds: a full disk or no file descriptor left
        # must not stop the run or hide its outcome; said once per run.
        try:
            write(*args)
        except Exception as exc:
            if not self._page_failed:
                self._page_failed = True
                logger.warning("flyte: the page of run %s was not written: %s", self.name, exc)
