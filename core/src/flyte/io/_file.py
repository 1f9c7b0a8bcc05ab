"""``flyte.io.File``: a file in object storage, passed between tasks by reference."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import attrs

from flyte.io._storage import filesystem, new_path


@attrs.frozen
class File:
    """A reference to a file: ``path`` is a local path or an fsspec URL.

    Its contents never travel inline with a task's inputs or outputs, only the reference, so
    it does not count against ``max_inline_io_bytes``.
    """

    path: str
    name: str | None = None

    @classmethod
    def new_remote(cls, file_name: str | None = None) -> File:
        """A new, empty location in the configured storage; write it with ``open_sync("w")``."""
        return cls(path=new_path(file_name), name=file_name)

    @classmethod
    def from_existing_remote(cls, remote_path: str) -> File:
        return cls(path=remote_path, name=os.path.basename(remote_path.rstrip("/")) or None)

    @classmethod
    def from_local_sync(cls, local_path: str | Path, remote_destination: str | None = None) -> File:
        """Upload a local file to storage and return a reference to the copy."""
        source = Path(local_path)
        if not source.is_file():
            raise FileNotFoundError(f"File.from_local: {local_path} is not a file")
        target = remote_destination or new_path(source.name)
        fs, resolved = filesystem(target)
        fs.makedirs(fs._parent(resolved), exist_ok=True)
        fs.put_file(str(source), resolved)
        return cls(path=target, name=source.name)

    @classmethod
    async def from_local(cls, local_path: str | Path, remote_destination: str | None = None) -> File:
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_destination)

    @contextmanager
    def open_sync(self, mode: str = "rb", **kwargs: Any) -> Iterator[IO[Any]]:
        """Open the file for reading or writing ("r", "rb", "w", "wb", "a")."""
        fs, resolved = filesystem(self.path)
        if any(m in mode for m in "wa"):
            fs.makedirs(fs._parent(resolved), exist_ok=True)
        with fs.open(resolved, mode, **kwargs) as handle:
            yield handle

    @asynccontextmanager
    async def open(self, mode: str = "rb", **kwargs: Any) -> AsyncIterator[IO[Any]]:
        """Async form of :meth:`open_sync` (the I/O itself runs on a thread)."""
        fs, resolved = filesystem(self.path)
        if any(m in mode for m in "wa"):
            await asyncio.to_thread(fs.makedirs, fs._parent(resolved), exist_ok=True)
        handle = await asyncio.to_thread(fs.open, resolved, mode, **kwargs)
        try:
            yield handle
        finally:
            await asyncio.to_thread(handle.close)

    def download_sync(self, local_path: str | Path | None = None) -> str:
        """Copy the file to ``local_path`` (a temporary file by default); returns the path."""
        import tempfile

        fs, resolved = filesystem(self.path)
        target = (
            Path(local_path)
            if local_path
            else Path(tempfile.mkdtemp(prefix="flyte-file-")) / (self.name or os.path.basename(resolved))
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(resolved, str(target))
        return str(target)

    async def download(self, local_path: str | Path | None = None) -> str:
        return await asyncio.to_thread(self.download_sync, local_path)

    def exists_sync(self) -> bool:
        fs, resolved = filesystem(self.path)
        return fs.exists(resolved)

    async def exists(self) -> bool:
        return await asyncio.to_thread(self.exists_sync)
