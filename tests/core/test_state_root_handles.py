"""A process that moves between state roots keeps open only what its current root needs.

A test suite that gives every test its own ``FLYTE_HOME`` (as ours does) runs thousands of
runs in one process; each root's run store and cache used to keep a connection (three file
descriptors each) and a writer thread for the life of the process, until the suite ran out of
file descriptors under the common limit of 1,024.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

import flyte

env = flyte.TaskEnvironment(name="handles")


@env.task(cache="auto")
async def plus_one(x: int) -> int:
    return x + 1


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def store_threads() -> int:
    return sum(t.name == "flyte-run-store" for t in threading.enumerate())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_runs_in_many_state_roots_keep_only_the_current_roots_files_open(tmp_path, monkeypatch):
    def run_in_a_new_root(i: int) -> None:
        monkeypatch.setenv("FLYTE_HOME", str(tmp_path / f"home-{i}"))
        flyte.init()
        assert flyte.run(plus_one, x=i).outputs() == i + 1

    run_in_a_new_root(0)
    files, threads = open_files(), store_threads()
    for i in range(1, 41):
        run_in_a_new_root(i)
    assert open_files() <= files + 2, "each state root left files open"
    assert store_threads() <= max(threads, 1)


def test_a_root_used_again_later_still_records_its_runs(tmp_path, monkeypatch):
    names = {}
    for home in ("a", "b", "a"):
        monkeypatch.setenv("FLYTE_HOME", str(tmp_path / home))
        flyte.init()
        names.setdefault(home, []).append(flyte.run(plus_one, x=1).name)
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "a"))
    listed = {run.name for run in flyte.remote.Run.listall()}
    assert set(names["a"]) <= listed and not set(names["b"]) & listed


@env.task
async def constant() -> int:
    return 1


def test_a_run_looks_at_the_checked_root_once_and_a_root_gone_is_made_again(tmp_path, monkeypatch):
    """The root is looked at once a run (by its page's checks), not again for the run store's
    file, whose own inode says it is still the writer's; a root removed or replaced since is
    looked at and made again, and its runs recorded in the new store."""
    import shutil

    from flyte.remote import Run
    from flyte.runtime import store as st

    home = tmp_path / "home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    flyte.init()
    flyte.run(constant)
    seen: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        seen.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    flyte.run(constant)
    monkeypatch.setattr(os, "stat", real_stat)
    assert seen.count(str(home)) == 1, seen
    assert seen.count(str(home / "runs.db")) == 1, seen

    first = st.writer()
    st.release(first)
    shutil.rmtree(home)  # gone between two runs of the process
    run = flyte.run(constant)
    assert (home / "runs.db").is_file() and (home / "pages" / f"{run.name}.html").is_file()
    assert [r.name for r in Run.listall()] == [run.name]
    again = st.writer()
    st.release(again)
    assert again is not first
