"""The run's page file is made ahead, while the run goes (flyte.runtime.page.PageFile): an
unnamed file (O_TMPFILE) that gets its name, index.html, only once a whole page is in it. Every
run, however it ends, gets its page, private to the user, with no other file beside it; a
process killed meanwhile leaves nothing; a page already there is replaced; where unnamed files
or /proc's links are refused, pages are written the usual way; no descriptor outlives a run."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import flyte
from flyte.runtime import page

env = flyte.TaskEnvironment(name="pageahead")


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


needs_unnamed = pytest.mark.skipif(not page._unnamed, reason="no unnamed files (O_TMPFILE) on this platform")


def _folder(flyte_home: Path, name: str) -> Path:
    return flyte_home / "runs" / name


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def _page_fds(flyte_home: Path) -> list[str]:
    """What this process holds open under the runs' folders (an unnamed file shows as
    ``<folder>/#<inode> (deleted)``)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if target.startswith(f"{flyte_home / 'runs'}/"):
            held.append(target)
    return held


@pytest.fixture
def unnamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unnamed files tried again after the test, whatever it made the module decide."""
    monkeypatch.setattr(page, "_unnamed", page._unnamed)


@needs_unnamed
def test_the_page_is_the_unnamed_file_linked_whole_and_private(flyte_home, monkeypatch, unnamed):
    def no_rename(*args, **kwargs):
        raise AssertionError("the page made ahead is linked, never renamed into place")

    monkeypatch.setattr(page.os, "replace", no_rename)
    old = os.umask(0)  # only flyte's own mode keeps the page private
    try:
        flyte.init()
        run = flyte.with_runcontext(name="rahead").run(quick)
    finally:
        os.umask(old)
    folder = _folder(flyte_home, "rahead")
    assert _files(folder) == ["index.html"]
    assert (folder / "index.html").stat().st_mode & 0o777 == 0o600
    assert 'data-phase="SUCCEEDED"' in (folder / "index.html").read_text()
    assert run.url == (folder / "index.html").as_uri()


def test_a_failed_run_gets_its_page_and_no_descriptor_outlives_a_run(flyte_home, unnamed):
    flyte.init()
    flyte.run(quick)  # what a process opens once (stores, their writers) is open before counting
    with pytest.raises(ValueError):
        flyte.run(breaks)
    names = []
    for i in range(20):
        if i % 2:
            with pytest.raises(ValueError):
                flyte.with_runcontext(name=f"rfd{i}").run(breaks)
        else:
            flyte.with_runcontext(name=f"rfd{i}").run(quick)
        names.append(f"rfd{i}")
    assert _page_fds(flyte_home) == []
    for i, name in enumerate(names):
        folder = _folder(flyte_home, name)
        assert _files(folder) == ["index.html"]
        phase = "FAILED" if i % 2 else "SUCCEEDED"
        assert f'data-phase="{phase}"' in (folder / "index.html").read_text()


def test_a_cancelled_run_gets_its_page_and_keeps_no_descriptor(flyte_home, unnamed):
    flyte.init()
    flyte.run(quick)

    async def start_then_cancel() -> None:
        started.clear()
        running = asyncio.ensure_future(flyte.with_runcontext(name="rcancel").run.aio(waits))
        while not started.is_set():
            await asyncio.sleep(0.01)
        running.cancel()  # as soon as the body runs: before the run's first page, as a rule
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(start_then_cancel())
    folder = _folder(flyte_home, "rcancel")
    assert _files(folder) == ["index.html"]
    assert 'data-phase="ABORTED"' in (folder / "index.html").read_text()
    assert _page_fds(flyte_home) == []


def test_a_page_already_there_is_replaced(flyte_home, unnamed):
    folder = _folder(flyte_home, "rthere")
    folder.mkdir(parents=True, mode=0o700)
    (folder / "index.html").write_text("<p>a page left by an older store</p>")
    flyte.init()
    flyte.with_runcontext(name="rthere").run(quick)
    assert _files(folder) == ["index.html"]
    text = (folder / "index.html").read_text()
    assert "older store" not in text and 'data-phase="SUCCEEDED"' in text


def test_without_unnamed_files_pages_are_written_the_usual_way(flyte_home, monkeypatch, unnamed):
    real_open = os.open
    tried = []

    def no_tmpfile(path, flags, *args, **kwargs):
        if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
            tried.append(path)
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(page, "_unnamed", True)  # as on Linux, whatever this platform has
    monkeypatch.setattr(page.os, "open", no_tmpfile)
    flyte.init()
    for name in ("rplain1", "rplain2"):
        with pytest.raises(ValueError):
            flyte.with_runcontext(name=name).run(breaks)
        folder = _folder(flyte_home, name)
        assert _files(folder) == ["index.html"]
        assert (folder / "index.html").stat().st_mode & 0o777 == 0o600
        assert 'data-phase="FAILED"' in (folder / "index.html").read_text()
    assert len(tried) == 1  # the file system said no once: not asked again in this process


@needs_unnamed
def test_a_link_refused_by_proc_falls_back_to_the_usual_way(flyte_home, monkeypatch, unnamed):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(page.os, "link", refused)
    flyte.init()
    flyte.with_runcontext(name="rnolink").run(quick)
    folder = _folder(flyte_home, "rnolink")
    assert _files(folder) == ["index.html"]
    assert 'data-phase="SUCCEEDED"' in (folder / "index.html").read_text()
    assert _page_fds(flyte_home) == []
    assert page._unnamed is False


def test_a_page_file_not_made_ahead_leaves_the_page_to_the_usual_way(flyte_home, monkeypatch, caplog):
    def no_descriptor_left(name):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(page, "PageFile", no_descriptor_left)
    flyte.init()
    with caplog.at_level("WARNING", logger="flyte.runtime.pulse"):
        flyte.with_runcontext(name="rnoahead").run(quick)
    assert [r for r in caplog.records if r.name == "flyte.runtime.pulse"] == []  # the page was written
    folder = _folder(flyte_home, "rnoahead")
    assert _files(folder) == ["index.html"]
    assert 'data-phase="SUCCEEDED"' in (folder / "index.html").read_text()


KILLED = """
import os, signal, sys
from flyte.runtime import page

ahead = page.PageFile("rkilled")
fd = ahead.take()
os.write(fd, b"<html><body>half a pa")  # a page being written when the process is killed
os.kill(os.getpid(), signal.SIGKILL)
"""


@needs_unnamed
def test_a_process_killed_while_writing_a_page_made_ahead_leaves_no_file(flyte_home, tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED))
    proc = subprocess.run([sys.executable, str(script)], env={**os.environ, "FLYTE_HOME": str(flyte_home)})
    assert proc.returncode == -9
    assert list(_folder(flyte_home, "rkilled").iterdir()) == []  # the folder, made ahead; no file


@needs_unnamed
def test_a_page_file_no_page_took_is_closed_and_vanishes(flyte_home):
    ahead = page.PageFile("runused")
    (held,) = _page_fds(flyte_home)
    assert held.endswith("(deleted)")  # unnamed: nothing in the folder
    ahead.close()
    ahead.close()  # closing twice is harmless
    assert _page_fds(flyte_home) == []
    assert list(_folder(flyte_home, "runused").iterdir()) == []
