"""``flyte.io.Dir``: a folder in object storage, passed between tasks by reference."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs

from flyte.io._file import File
from flyte.io._storage import filesystem, new_path


@attrs.frozen
class Dir:
    """A reference to a folder: ``path`` is a local path or an fsspec URL."""

    path: str
    name: str | None = None

    @classmethod
    def new_remote(cls, dir_name: str | None = None) -> Dir:
        return cls(path=new_path(dir_name), name=dir_name)

    @classmethod
    def from_existing_remote(cls, remote_path: str) -> Dir:
        return cls(path=remote_path.rstrip("/"), name=os.path.basename(remote_path.rstrip("/")) or None)

    @classmethod
    def from_local_sync(cls, local_path: str | Path, remote_path: str | None = None) -> Dir:
        """Upload a local folder (recursively) and return a reference to the copy."""
        source = Path(local_path)
        if not source.is_dir():
            raise NotADirectoryError(f"Dir.from_local: {local_path} is not a folder")
        target = (remote_path or new_path(source.name)).rstrip("/")
        fs, resolved = filesystem(target)
        fs.makedirs(resolved, exist_ok=True)
        for item in sorted(source.rglob("*")):
            if item.is_file():
                dest = f"{resolved}/{item.relative_to(source).as_posix()}"
                fs.makedirs(fs._parent(dest), exist_ok=True)
                fs.put_file(str(item), dest)
        return cls(path=target, name=source.name)

    @classmethod
    async def from_local(cls, local_path: str | Path, remote_path: str | None = None) -> Dir:
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_path)

    def walk_sync(self) -> Iterator[File]:
        """Every file under the folder, as :class:`File` references (sorted by path)."""
        fs, resolved = filesystem(self.path)
        prefix = self.path[: len(self.path) - len(resolved)] if self.path.endswith(resolved) else ""
        for path in sorted(fs.find(resolved)):
            yield File(path=prefix + path if prefix else path, name=os.path.basename(path))

    async def walk(self) -> AsyncIterator[File]:
        for file in await asyncio.to_thread(lambda: list(self.walk_sync())):
            yield file

    def list_files_sync(self) -> list[File]:
        return list(self.walk_sync())

    async def list_files(self) -> list[File]:
        return await asyncio.to_thread(self.list_files_sync)

    def download_sync(self, local_path: str | Path | None = None) -> str:
        """Copy the folder to ``local_path`` (a temporary folder by default)."""
        import tempfile

        fs, resolved = filesystem(self.path)
        target = Path(local_path) if local_path else Path(tempfile.mkdtemp(prefix="flyte-dir-"))
        target.mkdir(parents=True, exist_ok=True)
        for path in fs.find(resolved):
            dest = target / os.path.relpath(path, resolved)
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(path, str(dest))
        return str(target)

    async def download(self, local_path: str | Path | None = None) -> str:
        return await asyncio.to_thread(self.download_sync, local_path)

    def exists_sync(self) -> bool:
        fs, resolved = filesystem(self.path)
        return fs.exists(resolved)
