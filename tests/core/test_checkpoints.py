"""Intra-task checkpoints (``flyte.ctx().checkpoint``): an attempt saves its progress, the next
attempt of the same action resumes from it, as the public examples
(``intra-task-checkpoints/generic_checkpoint*.py``, the Lightning one) use them."""

from __future__ import annotations

import gc
import io
import os
import pathlib
import subprocess
import sys
import tarfile
import textwrap

import pytest

import flyte
from flyte._checkpoint import Checkpoint

env = flyte.TaskEnvironment(name="checkpoints")
RETRIES = 3
starts: list[int] = []


@env.task(retries=RETRIES)
async def resumes(n_iterations: int = 10) -> int:
    checkpoint = flyte.ctx().checkpoint
    path = await checkpoint.load()
    start = int(path.read_bytes()) if path else 0
    starts.append(start)
    failure_interval = n_iterations // RETRIES
    index = start
    for index in range(start, n_iterations):
        if index > start and index % failure_interval == 0:
            raise RuntimeError(f"Simulated failure at iteration {index}")
        await checkpoint.save(f"{index + 1}".encode())
    return index


@env.task(retries=RETRIES)
def resumes_sync(n_iterations: int = 10) -> int:
    checkpoint = flyte.ctx().checkpoint
    path = checkpoint.load_sync()
    start = int(path.read_bytes()) if path else 0
    starts.append(start)
    failure_interval = n_iterations // RETRIES
    index = start
    for index in range(start, n_iterations):
        if index > start and index % failure_interval == 0:
            raise RuntimeError(f"Simulated failure at iteration {index}")
        checkpoint.save_sync(f"{index + 1}".encode())
    return index


@pytest.mark.parametrize("task", [resumes, resumes_sync], ids=["async", "sync"])
def test_each_retry_resumes_where_the_failed_attempt_saved(task):
    starts.clear()
    run = flyte.run(task, n_iterations=10)
    assert run.outputs() == 9
    assert starts == [0, 3, 6, 9]  # not 0, 0, 0, ...: each attempt picked up the last save


@env.task(retries=1)
def trains(tmp: str) -> str:
    """Lightning's way: a folder of checkpoint files mirrored after each epoch."""
    checkpoint = flyte.ctx().checkpoint
    assert flyte.ctx().checkpoint is checkpoint  # one per attempt
    folder = pathlib.Path(tmp) / f"attempt-{flyte.ctx().attempt}"
    restored = checkpoint.load_sync()
    if restored is None:
        assert not checkpoint.prev_exists()
        (folder / "epoch=0").mkdir(parents=True)
        (folder / "epoch=0" / "last.ckpt").write_text("weights after epoch 0")
        checkpoint.save_sync(folder)
        (folder / "epoch=1").mkdir()
        (folder / "epoch=1" / "last.ckpt").write_text("weights after epoch 1")
        checkpoint.save_sync(folder)  # replaces the first save
        assert checkpoint.load_sync() is None  # an attempt never loads its own saves
        raise RuntimeError("preempted")
    assert restored == checkpoint.path and checkpoint.prev_exists()
    names = sorted(str(p.relative_to(restored)) for p in restored.rglob("*"))
    assert names == ["epoch=0", "epoch=0/last.ckpt", "epoch=1", "epoch=1/last.ckpt"]
    os.utime(restored / "epoch=0" / "last.ckpt", (1, 1))  # the older one
    return flyte.latest_checkpoint(restored).read_text()


def test_a_saved_folder_is_restored_whole_and_latest_checkpoint_finds_the_newest(tmp_path):
    assert flyte.run(trains, tmp=str(tmp_path)).outputs() == "weights after epoch 1"


@env.task(retries=1)
async def switches_form(tmp: str) -> bytes:
    checkpoint = flyte.ctx().checkpoint
    restored = await checkpoint.load()
    if restored is None:
        folder = pathlib.Path(tmp) / "tree"
        folder.mkdir()
        (folder / "a").write_text("a")
        await checkpoint.save(folder)
        weights = pathlib.Path(tmp) / "weights.pt"
        weights.write_bytes(b"\x00tensor")
        await checkpoint.save(str(weights))  # a file after a folder: the file is the checkpoint
        raise RuntimeError("preempted")
    assert restored == checkpoint.path / "payload"
    assert sorted(p.name for p in checkpoint.path.iterdir()) == ["payload"]
    return restored.read_bytes()


def test_the_last_save_of_an_attempt_is_its_checkpoint_whatever_its_form(tmp_path):
    assert flyte.run(switches_form, tmp=str(tmp_path)).outputs() == b"\x00tensor"


@env.task
async def child(name: str) -> tuple[str, str]:
    checkpoint = flyte.ctx().checkpoint
    assert await checkpoint.load() is None
    await checkpoint.save(name.encode())
    return checkpoint.remote_destination, str(checkpoint.path)


@env.task
async def parent() -> list[tuple[str, str]]:
    return [await child("a"), await child("b")]


def test_every_action_has_checkpoints_of_its_own_and_its_local_folder_goes_with_the_attempt():
    (first, first_local), (second, second_local) = flyte.run(parent).outputs()[0]
    assert first != second
    assert pathlib.Path(first, "payload").read_bytes() == b"a"
    assert pathlib.Path(second, "payload").read_bytes() == b"b"
    gc.collect()
    assert not os.path.exists(first_local) and not os.path.exists(second_local)


@env.task
def saves_wrong(data: str) -> None:
    checkpoint = flyte.ctx().checkpoint
    checkpoint.save_sync(123 if data == "number" else data)


def test_a_bad_save_names_the_value_and_what_is_accepted(tmp_path):
    with pytest.raises(Exception, match=r"data=int is not valid \(accepted: bytes, or the path"):
        flyte.run(saves_wrong, data="number")
    missing = str(tmp_path / "missing.pt")
    with pytest.raises(Exception, match=rf"data='{missing}' does not exist"):
        flyte.run(saves_wrong, data=missing)


def test_a_checkpoint_archive_cannot_write_outside_its_folder(tmp_path):
    """A tree.tar.gz is extracted with tarfile's data filter: no ../ paths, no absolute ones."""
    prefix = tmp_path / "checkpoints"
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    (prefix / f"{1:020d}").mkdir(parents=True)
    (prefix / f"{1:020d}" / "tree.tar.gz").write_bytes(evil.getvalue())
    checkpoint = Checkpoint(str(prefix), 2)
    with pytest.raises(tarfile.OutsideDestinationError):
        checkpoint.load_sync()
    assert not (checkpoint.path.parent / "escaped").exists()


def test_outside_a_task_there_is_no_checkpoint_and_the_latest_of_nothing_is_none(tmp_path):
    assert flyte.ctx() is None
    assert flyte.latest_checkpoint(tmp_path) is None
    with pytest.raises(ValueError, match=r"glob_pattern='' is not valid \(accepted: a glob"):
        flyte.latest_checkpoint(tmp_path, "")


CONTAINER_TASK = textwrap.dedent(
    """
    import flyte

    env = flyte.TaskEnvironment(name="pods")


    @env.task
    def count(to: int) -> int:
        checkpoint = flyte.ctx().checkpoint
        path = checkpoint.load_sync()
        start = int(path.read_bytes()) if path else 0
        for i in range(start, to):
            checkpoint.save_sync(str(i + 1).encode())
            if i == 1 and start == 0:
                raise RuntimeError("the node went away")
        return start
    """
)


def test_a_retried_pod_resumes_from_the_checkpoint_the_pod_before_saved(tmp_path):
    """The container command (python -m flyte.entrypoint) as the Job runs it: each pod is a new
    process and run; the checkpoints sit beside the task's outputs."""
    (tmp_path / "pod_tasks.py").write_text(CONTAINER_TASK)
    outputs = tmp_path / "bucket" / "r1" / "count" / "outputs.json"
    environ = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "FLYTE_INPUTS": '{"to": 4}',
        "FLYTE_OUTPUTS_URI": str(outputs),
        "FLYTE_STORAGE": str(tmp_path / "bucket"),
    }
    command = [sys.executable, "-m", "flyte.entrypoint", "--module", "pod_tasks", "--task", "count"]

    def pod() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    first = pod()
    assert first.returncode == 1 and "the node went away" in first.stderr
    assert not outputs.exists()
    second = pod()
    assert second.returncode == 0, second.stderr
    assert outputs.read_text() == "2"  # it started from the first pod's last save
    saved = sorted((outputs.parent / "checkpoints").iterdir())
    assert len(saved) == 2 and [(p / "payload").read_bytes() for p in saved] == [b"2", b"4"]
