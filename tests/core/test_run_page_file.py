"""The run's page on disk (flyte.runtime.page): every run, however it ends (succeeded, failed,
cancelled), gets its page, private to the user, with no other file beside it; a page already
there is replaced; no descriptor under the runs' folders outlives a run."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

import flyte

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


def _folder(flyte_home: Path, name: str) -> Path:
    return flyte_home / "runs" / name


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def _page_fds(flyte_home: Path) -> list[str]:
    """What this process holds open under the runs' folders."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if target.startswith(f"{flyte_home / 'runs'}/"):
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
    folder = _folder(flyte_home, "rprivate")
    assert _files(folder) == ["index.html"]
    assert (folder / "index.html").stat().st_mode & 0o777 == 0o600
    assert 'data-phase="SUCCEEDED"' in (folder / "index.html").read_text()
    assert run.url == (folder / "index.html").as_uri()


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
    for i, name in enumerate(names):
        folder = _folder(flyte_home, name)
        assert _files(folder) == ["index.html"]
        phase = "FAILED" if i % 2 else "SUCCEEDED"
        assert f'data-phase="{phase}"' in (folder / "index.html").read_text()


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
    folder = _folder(flyte_home, "rcancel")
    assert _files(folder) == ["index.html"]
    assert 'data-phase="ABORTED"' in (folder / "index.html").read_text()
    assert _page_fds(flyte_home) == []


def test_a_page_already_there_is_replaced(flyte_home):
    folder = _folder(flyte_home, "rthere")
    folder.mkdir(parents=True, mode=0o700)
    (folder / "index.html").write_text("<p>a page left by an older store</p>")
    flyte.init()
    flyte.with_runcontext(name="rthere").run(quick)
    assert _files(folder) == ["index.html"]
    text = (folder / "index.html").read_text()
    assert "older store" not in text and 'data-phase="SUCCEEDED"' in text
