"""HTML reports written by a task with ``report=True``.

Inside such a task, ``flyte.report.log(html)`` appends to the report, ``replace(html)``
replaces it, ``get_tab(name)`` gives a named tab with the same two methods, and ``flush()``
writes the file now (it is written when the task ends anyway). Outside a reporting task these
calls do nothing, so code can report unconditionally. The file is
``<state root>/runs/<run>/<action>/report.html``; the run's page links to it. Secret values
the task was given are masked in the file (``***``), as in its logs.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

from flyte._home import state_path
from flyte._validation import wrong_type
from flyte.runtime.redact import redact

DEFAULT_TAB = "Main"


def _html(param: str, content: object) -> str:
    # Checked when written: a non-str would only fail when the report is saved, after the task.
    if not isinstance(content, str):
        wrong_type(param, content, "HTML (a str)")
    return content


class Tab:
    """One named section of a report."""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            wrong_type("flyte.report.get_tab: name", name, "a non-empty str")
        self.name = name
        self.content: list[str] = []

    def log(self, content: str, do_flush: bool = False) -> None:
        self.content.append(_html("flyte.report.log: content", content))
        if do_flush:
            flush()

    def replace(self, content: str, do_flush: bool = False) -> None:
        self.content = [_html("flyte.report.replace: content", content)]
        if do_flush:
            flush()

    def get_html(self) -> str:
        """The tab's content so far."""
        return "\n".join(self.content)


class Report:
    """The report of one action."""

    def __init__(self, run: str, action: str, task: str):
        self.path = state_path("runs", run, action) / "report.html"
        self.task = task
        self.tabs: dict[str, Tab] = {DEFAULT_TAB: Tab(DEFAULT_TAB)}

    def tab(self, name: str) -> Tab:
        if name not in self.tabs:
            self.tabs[name] = Tab(name)
        return self.tabs[name]

    def get_tab(self, name: str, create_if_missing: bool = True) -> Tab | None:
        return self.tab(name) if create_if_missing or name in self.tabs else None

    def get_final_report(self) -> str:
        """The whole report as one HTML page."""
        return self.render()

    def render(self) -> str:
        sections = []
        for tab in self.tabs.values():
            if not tab.content and tab.name != DEFAULT_TAB:
                continue
            body = "\n".join(tab.content)
            sections.append(f"<section><h2>{html.escape(tab.name)}</h2>\n{body}\n</section>")
        title = html.escape(self.task)
        return (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
        )

    def save(self) -> str:
        """Write the report atomically, secret values masked; returns its path."""
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".report-")
        with os.fdopen(fd, "w") as f:
            f.write(redact(self.render()))
        os.replace(tmp, self.path)
        return str(self.path)


def open_report(run: str, action: str, task: str) -> Report:
    return Report(run, action, task)


def current_report() -> Report | None:
    """The report of the running task, or None when it does not report."""
    from flyte._context import current_caller
    from flyte.runtime.controller import Action

    action = current_caller()  # in a pool worker: the worker's caller, which has no report
    return action.report if isinstance(action, Action) else None


def get_tab(name: str, create_if_missing: bool = True) -> Tab:
    """The named tab of the running task's report (a detached tab outside a reporting task)."""
    report = current_report()
    return report.tab(name) if report is not None else Tab(name)


def log(content: str, do_flush: bool = False) -> None:
    """Append HTML to the report's main tab."""
    get_tab(DEFAULT_TAB).log(content, do_flush)


def replace(content: str, do_flush: bool = False) -> None:
    """Replace the report's main tab with this HTML."""
    get_tab(DEFAULT_TAB).replace(content, do_flush)


def flush() -> None:
    """Write the report file now (it is written when the task ends anyway)."""
    report = current_report()
    if report is not None:
        report.save()


# The reference SDK's async spellings: ``await flyte.report.log.aio(html)`` and so on. The
# calls only touch memory (and, on flush, one small file), so they run inline.
async def _log_aio(content: str, do_flush: bool = False) -> None:
    log(content, do_flush)


async def _replace_aio(content: str, do_flush: bool = False) -> None:
    replace(content, do_flush)


async def _flush_aio() -> None:
    flush()


log.aio = _log_aio  # type: ignore[attr-defined]
replace.aio = _replace_aio  # type: ignore[attr-defined]
flush.aio = _flush_aio  # type: ignore[attr-defined]


def report_path(run: str, action: str) -> Path:
    return state_path("runs", run, action) / "report.html"
