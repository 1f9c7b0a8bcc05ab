"""Live progress of a run's actions: a rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

from flyte.runtime import controller
from flyte.runtime import store as st

STYLE = {
    st.QUEUED: "dim",
    st.RUNNING: "cyan",
    st.RETRYING: "yellow",
    st.SUCCEEDED: "green",
    st.FAILED: "red",
    "CACHED": "magenta",
}


class Progress:
    """Subscribes to the controller's action events while the block runs."""

    def __init__(self, interactive: bool, max_rows: int = 20):
        self.interactive = interactive
        self.max_rows = max_rows
        self.run_name: str | None = None
        self._rows: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._live: Any = None
        self._counts: dict[str, int] = {}

    def __enter__(self) -> Progress:
        controller.listeners.append(self._on_event)
        if self.interactive:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(stderr=True), refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._on_event in controller.listeners:
            controller.listeners.remove(self._on_event)
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None

    def _on_event(self, run: str, action: str, task: str, status: str, attempt: int, detail: str | None) -> None:
        with self._lock:
            self.run_name = run
            row = self._rows.setdefault(action, [task, status, attempt, detail, time.monotonic()])
            row[1:4] = [status, attempt, detail]
            if self._live is not None:
                self._live.update(self._render())
            elif status in (st.RETRYING, st.SUCCEEDED, st.FAILED, "CACHED") or (status == st.RUNNING and attempt == 1):
                note = f" (attempt {attempt})" if attempt > 1 or status == st.RETRYING else ""
                extra = f": {detail}" if detail else ""
                click.echo(f"[{run}] {action} {task} {status.lower()}{note}{extra}", err=True)
                sys.stderr.flush()

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title=f"run {self.run_name or ''}", expand=False)
        for column in ("action", "task", "status", "attempt", "detail"):
            table.add_column(column)
        rows = list(self._rows.items())
        counts: dict[str, int] = {}
        for _, (_, status, *_rest) in rows:
            counts[status] = counts.get(status, 0) + 1
        active = [r for r in rows if r[1][1] not in (st.SUCCEEDED,)] + [r for r in rows if r[1][1] == st.SUCCEEDED]
        for action, (task, status, attempt, detail, _) in active[: self.max_rows]:
            table.add_row(
                action, task, f"[{STYLE.get(status, '')}]{status.lower()}[/]", str(attempt), (detail or "")[:80]
            )
        if len(rows) > self.max_rows:
            summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
            table.caption = f"{len(rows)} actions: {summary}"
        return table
