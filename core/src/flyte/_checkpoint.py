"""Intra-task checkpoints: ``flyte.ctx().checkpoint``.

An attempt saves its progress (``save``/``save_sync``: bytes, a file or a folder); when it
fails and the task retries, the next attempt of the same action loads the newest checkpoint an
earlier attempt saved (``load``/``load_sync``) and resumes from there instead of starting over.

Where checkpoints live: under the action's folder of the run's storage
(``<storage>/<run>/checkpoints/<action>/``), one folder per attempt named by its order
(``00000000000000000002/``), holding ``payload`` (bytes or a file, as saved) or
``tree.tar.gz`` (a folder, as a gzip tar of its entries). Each attempt writes only its own
folder, so a load never sees the attempt's own saves and a crash mid-save leaves the earlier
attempts' checkpoints whole (writes go through :func:`flyte.storage.atomic_open`). In a
rendered container, where the Job's ``backoffLimit`` retries the pod, the entrypoint pins the
task's checkpoints next to its outputs and orders attempts by the pod's start time
(:func:`pin_root`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import re
import shutil
import tarfile
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

# An attempt's folder: its order, zero-padded so names sort as numbers.
_ORDER = re.compile(r"^\d{20}$")
_PAYLOAD = "payload"  # bytes or a file, stored as given; loaded as <path>/payload
_TREE = "tree.tar.gz"  # a folder; loaded as its entries under <path>
_CHUNK = 8 * 1024 * 1024
# Where the attempt's Checkpoint is kept in TaskContext.data: one per attempt.
CHECKPOINT_DATA_KEY = "__flyte_checkpoint__"
# Set in a rendered container for the task it runs (its root action): (prefix, order).
_pinned: tuple[str, int] | None = None


@contextlib.contextmanager
def pinned_root(prefix: str, order: int | None = None) -> Iterator[None]:
    """Inside the block, keep the checkpoints of a run's root task under ``prefix``, ordering
    this attempt by ``order`` (default: now, in ns). The container entrypoint uses it: each
    retry of the pod is a new process and a new run, but the same task and prefix."""
    global _pinned
    _pinned = (prefix.rstrip("/"), time.time_ns() if order is None else order)
    try:
        yield
    finally:
        _pinned = None


def latest_checkpoint(
    root: str | os.PathLike[str],
    glob_pattern: str = "**/last.ckpt",
    *,
    key: Callable[[pathlib.Path], Any] | None = None,
) -> pathlib.Path | None:
    """The file under ``root`` matching ``glob_pattern`` that ranks highest by ``key``
    (default: the newest modification time), or None. For a restored checkpoint folder, e.g.
    Lightning's ``last.ckpt``: ``flyte.latest_checkpoint(checkpoint.load_sync())``."""
    if not isinstance(glob_pattern, str) or not glob_pattern:
        raise ValueError(
            f"latest_checkpoint: glob_pattern={glob_pattern!r} is not valid (accepted: a glob such as '**/last.ckpt')"
        )
    matches = [p for p in pathlib.Path(root).glob(glob_pattern) if p.is_file()]
    if not matches:
        return None
    return max(matches, key=key or (lambda p: p.stat().st_mtime))


class Checkpoint:
    """The checkpoint of the running attempt (``flyte.ctx().checkpoint``).

    ``load()`` restores the newest checkpoint an earlier attempt of this action saved into
    ``path`` (a local folder of this attempt's own) and returns where it is: ``path/"payload"``
    for bytes or a file, ``path`` for a folder; None when no earlier attempt saved one.
    ``save(data)`` stores this attempt's checkpoint (replacing what it saved before): ``bytes``,
    or a file or folder given by path. ``load_sync``/``save_sync`` are the same for sync code
    (a Lightning callback, a ``def`` task). The async forms run the I/O on a thread.
    """

    def __init__(self, prefix: str, order: int, *, include_own: bool = False):
        self._prefix = prefix.rstrip("/")
        self._order = order
        # A clustered attempt's workers restarted within the attempt load what it saved too.
        self._include_own = include_own
        self._workspace = tempfile.mkdtemp(prefix="flyte-checkpoint-")
        # Removed with the object (the attempt's task context ends), or at exit: quietly, unlike
        # an unclosed TemporaryDirectory, which warns.
        weakref.finalize(self, shutil.rmtree, self._workspace, ignore_errors=True)
        self._restored: tuple[pathlib.Path | None] | None = None  # what load returned, once loaded

    def __repr__(self) -> str:
        return f"Checkpoint(destination={self.remote_destination!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # In another process (a clustered worker): the same checkpoint, a workspace of its own.
        return (_rebuild, (self._prefix, self._order, self._include_own))

    def after_restart(self) -> Checkpoint:
        """This attempt's checkpoint for workers started over within the attempt (a clustered
        task's restarts): ``load`` also finds what the attempt itself saved before."""
        return Checkpoint(self._prefix, self._order, include_own=True)

    @property
    def path(self) -> pathlib.Path:
        """The local folder a load restores into (and a task may use as its scratch space)."""
        return pathlib.Path(self._workspace)

    @property
    def remote_destination(self) -> str:
        """The folder where this attempt's ``save`` writes."""
        return f"{self._prefix}/{self._order:020d}"

    @property
    def remote_source(self) -> str | None:
        """The folder of the checkpoint ``load`` restores (an earlier attempt's), or None."""
        found = self._previous()
        return None if found is None else found[0]

    def prev_exists(self) -> bool:
        """Whether an earlier attempt of this action saved a checkpoint."""
        return self._previous() is not None

    async def load(self) -> pathlib.Path | None:
        """Restore the previous attempt's checkpoint (see the class); None if there is none."""
        return await asyncio.to_thread(self.load_sync)

    async def save(self, data: bytes | str | os.PathLike[str]) -> None:
        """Store ``data`` as this attempt's checkpoint (see the class)."""
        await asyncio.to_thread(self.save_sync, data)

    def load_sync(self) -> pathlib.Path | None:
        """:meth:`load` for sync code."""
        if self._restored is not None:
            return self._restored[0]
        found = self._previous()
        restored = None if found is None else self._restore(*found)
        self._restored = (restored,)
        return restored

    def save_sync(self, data: bytes | str | os.PathLike[str]) -> None:
        """:meth:`save` for sync code."""
        from flyte.storage._operations import atomic_open

        if isinstance(data, (bytes, bytearray, memoryview)):
            with atomic_open(f"{self.remote_destination}/{_PAYLOAD}") as out:
                out.write(data)
            self._drop(_TREE)
            return
        if not isinstance(data, (str, os.PathLike)):
            raise TypeError(
                f"Checkpoint.save: data={type(data).__name__} is not valid "
                "(accepted: bytes, or the path of a file or folder as str or os.PathLike)"
            )
        source = pathlib.Path(data)
        if source.is_dir():
            # Streamed into the upload: no local copy of the archive.
            target = f"{self.remote_destination}/{_TREE}"
            with atomic_open(target) as out, tarfile.open(fileobj=out, mode="w|gz") as tar:
                for entry in sorted(source.iterdir()):
                    tar.add(entry, arcname=entry.name)
            self._drop(_PAYLOAD)
        elif source.is_file():
            with atomic_open(f"{self.remote_destination}/{_PAYLOAD}") as out, open(source, "rb") as inp:
                shutil.copyfileobj(inp, out, _CHUNK)
            self._drop(_TREE)
        else:
            raise FileNotFoundError(
                f"Checkpoint.save: data={os.fspath(data)!r} does not exist "
                "(accepted: bytes, or an existing file or folder)"
            )

    def _drop(self, name: str) -> None:
        """Remove the other form this attempt saved before (a file after a folder, ...)."""
        from flyte.storage._filesystem import filesystem

        fs, path = filesystem(f"{self.remote_destination}/{name}")
        with contextlib.suppress(FileNotFoundError):
            fs.rm(path)

    def _previous(self) -> tuple[str, str] | None:
        """(folder, object) of the newest checkpoint saved by an earlier attempt."""
        from flyte.storage._filesystem import filesystem, storage_errors

        fs, root = filesystem(self._prefix)
        with storage_errors(self._prefix, "list"):
            try:
                names = [os.path.basename(p.rstrip("/")) for p in fs.ls(root, detail=False)]
            except FileNotFoundError:
                return None
            last = self._order if self._include_own else self._order - 1
            earlier = sorted((n for n in names if _ORDER.match(n) and int(n) <= last), reverse=True)
            for name in earlier:
                folder = f"{self._prefix}/{name}"
                present = [kind for kind in (_PAYLOAD, _TREE) if fs.exists(f"{root}/{name}/{kind}")]
                if len(present) == 2:  # a save stopped before it removed the older form: the newer wins
                    present.sort(key=lambda kind: fs.modified(f"{root}/{name}/{kind}"), reverse=True)
                if present:
                    return folder, present[0]
        return None

    def _restore(self, folder: str, kind: str) -> pathlib.Path:
        from flyte.storage._filesystem import filesystem, storage_errors

        workspace = self.path
        for entry in workspace.iterdir():  # a restore replaces whatever the task left there
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        url = f"{folder}/{kind}"
        fs, path = filesystem(url)
        with storage_errors(url, "read"), fs.open(path, "rb") as inp:
            if kind == _TREE:
                with tarfile.open(fileobj=inp, mode="r|gz") as tar:
                    tar.extractall(workspace, filter="data")  # no paths outside it, no devices
                return workspace
            target = workspace / _PAYLOAD
            with open(target, "wb") as out:
                shutil.copyfileobj(inp, out, _CHUNK)
            return target


def _rebuild(prefix: str, order: int, include_own: bool) -> Checkpoint:
    return Checkpoint(prefix, order, include_own=include_own)


def checkpoint_for(context: Any, root: bool) -> Checkpoint:
    """The checkpoint of the attempt a :class:`~flyte.TaskContext` describes (``root``: the
    run's root task), made once per attempt and kept in the context's ``data``."""
    found = context.data.get(CHECKPOINT_DATA_KEY)
    if found is None:
        if root and _pinned is not None:
            prefix, order = _pinned
        else:
            prefix, order = f"{context.run_base_dir}/checkpoints/{context.action.name}", context.attempt
        found = context.data[CHECKPOINT_DATA_KEY] = Checkpoint(prefix, order)
    return found
