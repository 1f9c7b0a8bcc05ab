"""Folders under the state root (``flyte._home.state_path``): made 0700 when missing, and never
a place outside the root, whatever symlinks are planted in it or put in the root's place.

``state_path`` resolves the whole path only when an lstat per component finds a symlink (or the
root's path leads to another folder than the one it first resolved to): these tests hold the
check to what the full resolution refused before."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import flyte
from flyte._home import state_dir, state_path, state_root
from flyte.errors import StateError

env = flyte.TaskEnvironment(name="state_paths")


@env.task
def constant() -> int:
    return 1


def test_missing_folders_are_made_private_and_existing_ones_reused(flyte_home: Path):
    made = state_path("runs", "r1", "logs")
    assert made == flyte_home / "runs" / "r1" / "logs" and made.is_dir()
    for folder in (flyte_home / "runs", flyte_home / "runs" / "r1", made):
        assert stat.S_IMODE(folder.lstat().st_mode) == 0o700
    (made / "kept").write_text("x")
    assert state_dir("runs", "r1", "logs") == str(made) and (made / "kept").read_text() == "x"


@pytest.mark.parametrize("part", ["", ".", "..", "a/b", "a\0b"])
def test_only_plain_components_are_accepted(part: str):
    with pytest.raises(ValueError):
        state_path("runs", part)


def test_a_symlink_planted_in_the_root_that_leads_outside_is_refused(flyte_home: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    state_path("runs")  # the root resolved once, as any earlier run does
    (flyte_home / "runs" / "rplanted").symlink_to(outside)
    with pytest.raises(StateError, match="outside the state root"):
        state_path("runs", "rplanted")
    with pytest.raises(StateError, match="outside the state root"):
        state_path("runs", "rplanted", "logs")
    assert list(outside.iterdir()) == []  # nothing made through the link


def test_a_planted_symlink_to_a_folder_of_the_root_is_followed(flyte_home: Path):
    target = state_path("runs", "rtarget")
    (flyte_home / "runs" / "ralias").symlink_to(target)
    assert state_path("runs", "ralias", "logs") == flyte_home / "runs" / "ralias" / "logs"
    assert (target / "logs").is_dir()


def test_a_dangling_symlink_or_a_file_in_place_of_a_folder_is_an_error(flyte_home: Path, tmp_path: Path):
    state_path("runs")
    (flyte_home / "runs" / "rout").symlink_to(tmp_path / "missing")
    (flyte_home / "runs" / "rin").symlink_to(flyte_home / "missing")
    (flyte_home / "runs" / "rfile").write_text("not a folder")
    with pytest.raises(StateError, match="outside the state root"):
        state_path("runs", "rout")
    for name in ("rin", "rfile"):
        with pytest.raises(StateError, match="cannot create"):
            state_path("runs", name)
    assert not (tmp_path / "missing").exists() and not (flyte_home / "missing").exists()


def test_a_root_replaced_by_a_link_to_another_folder_is_refused(flyte_home: Path, tmp_path: Path):
    state_path("runs")  # resolved here first
    other = tmp_path / "other-root"
    (other / "runs").mkdir(parents=True)
    moved = tmp_path / "moved-root"
    flyte_home.rename(moved)
    flyte_home.symlink_to(other)
    with pytest.raises(StateError, match="outside the state root"):
        state_path("runs", "rnew")
    assert not (other / "runs" / "rnew").exists()


def test_a_root_moved_away_and_linked_back_is_still_the_root(flyte_home: Path, tmp_path: Path):
    state_path("runs")
    moved = tmp_path / "moved-root"
    flyte_home.rename(moved)
    flyte_home.symlink_to(moved)  # the same folder: what was written there is found
    assert state_path("runs", "rnew").is_dir() and (moved / "runs" / "rnew").is_dir()


def test_a_root_removed_and_made_again_is_used_and_still_checked(flyte_home: Path, tmp_path: Path):
    import shutil

    state_path("runs", "rold")
    shutil.rmtree(flyte_home)  # e.g. a user clearing ~/.flyte while a process keeps running
    assert state_path("runs", "rnew").is_dir() and not (flyte_home / "runs" / "rold").exists()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (flyte_home / "runs" / "rplanted").symlink_to(outside)
    with pytest.raises(StateError, match="outside the state root"):
        state_path("runs", "rplanted", "logs")
    assert list(outside.iterdir()) == []


def test_a_run_whose_folder_is_a_planted_link_writes_no_page_outside(
    flyte_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    flyte.init()
    flyte.run(constant)  # the root in use, as in a long-lived process
    state_path("runs")
    (state_root() / "runs" / "rlinked").symlink_to(outside)  # the run's own folder
    run = flyte.with_runcontext(name="rlinked").run(constant)
    assert run.outputs() == 1
    (state_root() / "pages" / "rpage.html").symlink_to(outside / "page.html")  # its page's name
    assert flyte.with_runcontext(name="rpage").run(constant).outputs() == 1
    assert (state_root() / "pages" / "rpage.html").is_file()  # the link replaced, never written through
    os.rename(state_root() / "pages", tmp_path / "pages-before")
    (state_root() / "pages").symlink_to(outside)  # the pages' folder
    run = flyte.with_runcontext(name="rout").run(constant)
    assert run.outputs() == 1  # the run's record and outcome do not depend on its page
    assert list(outside.iterdir()) == []
    assert "page of run rout was not written" in caplog.text and "outside the state root" in caplog.text


def test_a_run_makes_its_page_and_no_folder_of_its_own(flyte_home: Path):
    flyte.init()
    run = flyte.run(constant)
    folder = flyte_home / "pages"
    assert stat.S_IMODE(folder.lstat().st_mode) == 0o700 and not folder.is_symlink()
    page = folder / f"{run.name}.html"
    assert page.is_file() and not page.is_symlink() and os.access(page, os.R_OK)
    assert not (flyte_home / "runs" / run.name).exists()  # made only for its logs or reports
