"""`flyte ui` in a real browser: Debian's Chromium, headless, over the DevTools protocol
(tests/browser_cdp.py). Assertions are on the DOM; screenshots are kept in the test's temp
dir (and, with FLYTE_UI_SCREENSHOTS=DIR, copied there: docs/ holds the README's)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import flyte
from browser_cdp import Browser, chromium_path

if chromium_path() is None:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is missing: `make setup` installs Debian's chromium package")
    pytest.skip("no chromium on PATH (make setup installs Debian's chromium)", allow_module_level=True)

env = flyte.TaskEnvironment(name="shop")


@env.task(retries=flyte.RetryStrategy(count=2))
async def write_shard(shard: int) -> int:
    print(f"writing shard {shard}")
    if shard == 7:
        raise RuntimeError(f"disk full while writing shard {shard}")
    return shard


@env.task
async def export(shards: int) -> int:
    print(f"exporting {shards} shards")
    return sum(await asyncio.gather(*(write_shard(i) for i in range(shards))))


GATE = threading.Event()


@env.task
def slow_step() -> str:
    print("waiting at the gate")
    GATE.wait(300)
    return "done"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chrome = Browser(tmp_path / "profile")
    try:
        yield chrome
    finally:
        chrome.close()


def _wait(condition, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


def _recorded(name: str) -> bool:
    from flyte.runtime import store as st

    with st.reader() as conn:
        return conn.execute("SELECT 1 FROM runs WHERE name=?", (name,)).fetchone() is not None


def keep(shot: Path) -> None:
    target = os.environ.get("FLYTE_UI_SCREENSHOTS")
    if target:
        shutil.copy(shot, Path(target) / shot.name)


def test_a_failed_runs_traceback_and_logs_are_one_click_away(ui, browser, tmp_path):
    flyte.init()
    flyte.with_runcontext(name="rgood").run(write_shard, 1)
    with pytest.raises(RuntimeError):
        flyte.with_runcontext(name="rexport").run(export, 12)

    browser.goto(ui)
    browser.wait_for("document.querySelectorAll('tr.run').length === 2")
    assert browser.evaluate("document.querySelector('tr.run[data-run=rexport] .phase').dataset.phase") == "FAILED"
    browser.screenshot(tmp_path / "ui-runs.png")

    browser.click("tr.run[data-run=rexport] a")
    browser.wait_for(
        "document.querySelector('#run-name') && document.querySelector('#run-name').textContent === 'rexport'"
    )
    # the fan-out is one node of the tree, with its counts
    assert "shop.write_shard × 12" in browser.text("#tree")
    assert "failed 1" in browser.text("#tree") and "succeeded 11" in browser.text("#tree")
    assert "disk full while writing shard 7" in browser.text("#run-error")
    keep(browser.screenshot(tmp_path / "ui-run.png"))

    failed = browser.evaluate(
        "document.querySelector('tr.action[data-phase=FAILED][data-action]:not([data-action=a0])').dataset.action"
    )
    browser.click(f"tr.action[data-action={failed}] a")
    browser.wait_for("document.querySelectorAll('pre.traceback').length === 3")  # one per attempt
    traceback = browser.text("pre.traceback")
    assert traceback.startswith("Traceback of your code (most recent call last):")
    assert "in write_shard" in traceback and "RuntimeError: disk full while writing shard 7" in traceback
    logs = browser.evaluate("[...document.querySelectorAll('pre.log')].map(e => e.textContent)")
    assert logs == ["writing shard 7\n"] * 3
    keep(browser.screenshot(tmp_path / "ui-action.png"))
    assert (tmp_path / "ui-action.png").stat().st_size > 0


def test_a_running_run_changes_state_without_a_reload(ui, browser, tmp_path):
    flyte.init()
    GATE.clear()
    runner = threading.Thread(target=lambda: flyte.with_runcontext(name="rlive").run(slow_step))
    runner.start()
    try:
        _wait(lambda: _recorded("rlive"))  # the run has started
        browser.goto(ui + "runs/rlive")
        browser.wait_for("document.querySelector('h1 .phase').dataset.phase === 'RUNNING'")
        browser.wait_for("document.querySelector('tr.action[data-action=a0][data-phase=RUNNING]')")
        browser.evaluate("window.stillTheSamePage = true")
        browser.screenshot(tmp_path / "running.png")
        GATE.set()
        browser.wait_for("document.querySelector('h1 .phase').dataset.phase === 'SUCCEEDED'")
        browser.wait_for("document.querySelector('tr.action[data-action=a0][data-phase=SUCCEEDED]')")
        assert browser.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded
        browser.screenshot(tmp_path / "finished.png")
    finally:
        GATE.set()
        runner.join(120)


def test_the_page_on_disk_opens_without_a_server(browser, tmp_path):
    flyte.init()
    with pytest.raises(RuntimeError):
        flyte.with_runcontext(name="rdisk").run(export, 9)
    browser.goto(flyte.remote.Run.get("rdisk").url)
    browser.wait_for("document.querySelector('#run-name')")
    assert browser.evaluate("document.querySelector('h1 .phase').dataset.phase") == "FAILED"
    assert "RuntimeError: disk full while writing shard 7" in browser.text("pre.traceback")
    browser.screenshot(tmp_path / "on-disk.png")
