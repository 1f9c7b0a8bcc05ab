"""The run's page on disk (flyte.runtime.page): every run, however it ends (succeeded, failed,
cancelled), gets its page (``pages/<name>.html``), private to the user, with no other file
left beside it; a page already there is replaced; no descriptor under the pages' or the runs'
folders outlives a run. A run's own folder (``runs/<name>/``) is made only for its files (logs,
reports), which its page links; a page an older version wrote in that folder is still found."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from pathlib import Path

import pytest

import flyte
from flyte._home import run_page

env = flyte.TaskEnvironment(name="pagefile")


@env.task
async def quick() -> int:
    return 1


@env.task
async def breaks() -> int:
    raise ValueError("it broke")


started = threading.Event()


@env.task
async def waits() -> None:
    started.set()
    await asyncio.sleep(3600)


def _page(flyte_home: Path, name: str) -> Path:
    return flyte_home / "pages" / f"{name}.html"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def _page_fds(flyte_home: Path) -> list[str]:
    """What this process holds open under the pages' and the runs' folders."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if target.startswith((f"{flyte_home / 'runs'}/", f"{flyte_home / 'pages'}/")):
            held.append(target)
    return held


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc/self/fd to list descriptors")


def test_the_page_is_private_even_with_an_open_umask(flyte_home):
    old = os.umask(0)  # only flyte's own mode keeps the page private
    try:
        flyte.init()
        run = flyte.with_runcontext(name="rprivate").run(quick)
    finally:
        os.umask(old)
    page = _page(flyte_home, "rprivate")
    assert _files(page.parent) == ["rprivate.html"]
    assert page.stat().st_mode & 0o777 == 0o600
    assert page.parent.stat().st_mode & 0o777 == 0o700
    assert 'data-phase="SUCCEEDED"' in page.read_text()
    assert run.url == page.as_uri()
    assert not (flyte_home / "runs" / "rprivate").exists()  # nothing of its own to keep: no folder


@needs_proc
def test_failed_runs_get_their_page_and_no_descriptor_outlives_a_run(flyte_home):
    flyte.init()
    names = []
    for i in range(20):
        if i % 2:
            with pytest.raises(ValueError):
                flyte.with_runcontext(name=f"rfd{i}").run(breaks)
        else:
            flyte.with_runcontext(name=f"rfd{i}").run(quick)
        names.append(f"rfd{i}")
    assert _page_fds(flyte_home) == []
    assert _files(flyte_home / "pages") == sorted(f"{name}.html" for name in names)  # no temporary file left
    for i, name in enumerate(names):
        phase = "FAILED" if i % 2 else "SUCCEEDED"
        assert f'data-phase="{phase}"' in _page(flyte_home, name).read_text()


@needs_proc
def test_a_cancelled_run_gets_its_page_and_keeps_no_descriptor(flyte_home):
    flyte.init()

    async def start_then_cancel() -> None:
        started.clear()
        running = asyncio.ensure_future(flyte.with_runcontext(name="rcancel").run.aio(waits))
        while not started.is_set():
            await asyncio.sleep(0.01)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(start_then_cancel())
    assert _files(flyte_home / "pages") == ["rcancel.html"]
    assert 'data-phase="ABORTED"' in _page(flyte_home, "rcancel").read_text()
    assert _page_fds(flyte_home) == []


def test_a_page_already_there_is_replaced(flyte_home):
    page = _page(flyte_home, "rthere")
    page.parent.mkdir(parents=True, mode=0o700)
    page.write_text("<p>a page left by an older store</p>")
    flyte.init()
    run = flyte.with_runcontext(name="rthere").run(quick)
    assert _files(page.parent) == ["rthere.html"]
    text = page.read_text()
    assert "older store" not in text and 'data-phase="SUCCEEDED"' in text
    assert run.url == page.as_uri()


@env.task
async def prints_then_fails() -> int:
    print("kept in the run's folder")
    raise ValueError("it broke")


@env.task(report=True)
async def reports() -> int:
    flyte.report.replace("<p>a report</p>")
    return 2


def test_the_page_links_the_files_in_the_runs_folder(flyte_home):
    """A run with a log or a report gets its folder; the page, in a folder of its own, links
    them there (relative links, so the state root can be moved or copied whole)."""
    flyte.init()
    with pytest.raises(ValueError):
        flyte.with_runcontext(name="rlogged").run(prints_then_fails)
    page = _page(flyte_home, "rlogged")
    links = re.findall(r'href="([^"#]+\.log)"', page.read_text())
    assert links == ["../runs/rlogged/logs/a0-1.log"]
    log = (page.parent / links[0]).resolve()
    assert log == (flyte_home / "runs" / "rlogged" / "logs" / "a0-1.log").resolve()
    assert "kept in the run's folder" in log.read_text()

    run = flyte.with_runcontext(name="rreport").run(reports)
    page = _page(flyte_home, "rreport")
    assert run.url == page.as_uri()
    links = set(re.findall(r'(?:href|src)="([^"#]+report\.html)"', page.read_text()))
    assert links == {"../runs/rreport/a0/report.html"}
    assert "a report" in (page.parent / links.pop()).read_text()


def test_a_page_an_older_version_wrote_is_found_until_a_new_one_is_written(flyte_home):
    """Older versions wrote the page as ``runs/<name>/index.html`` (its links relative to that
    folder): Run.url names it for such a run, and the new place once a page is written there."""
    old = flyte_home / "runs" / "rold" / "index.html"
    old.parent.mkdir(parents=True, mode=0o700)
    old.write_text("<p>an older page</p>")
    assert run_page("rold") == old
    assert run_page("rnone") == _page(flyte_home, "rnone")  # no page yet: where it will be
    _page(flyte_home, "rold").parent.mkdir(mode=0o700)
    _page(flyte_home, "rold").write_text("<p>a new page</p>")
    assert run_page("rold") == _page(flyte_home, "rold")
