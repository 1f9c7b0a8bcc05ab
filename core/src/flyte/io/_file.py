"""``flyte.io.File``: a file in storage, passed between tasks by reference."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import attrs

from flyte.io._hashing import HashMethod, hash_of
from flyte.storage._filesystem import filesystem, storage_errors
from flyte.storage._operations import CHUNK, atomic_open
from flyte.storage._paths import new_path


@attrs.frozen
class File:
    """A reference to a file: ``path`` is a local path, a ``file://`` URL or an object-store URL.

    Its contents never travel inline with a task's inputs or outputs, only the reference, so it
    does not count against ``max_inline_io_bytes``. ``hash`` (optional) is a content hash that
    downstream cache keys use instead of the path.
    """

    path: str
    name: str | None = None
    hash: str | None = None

    @classmethod
    def new_remote(cls, file_name: str | None = None, hash_method: HashMethod | str | None = None) -> File:
        """A new, empty location in the run's storage; write it with ``open("wb")``.
        ``hash_method`` gives the content hash cache keys use: a ``str`` is the hash itself, a
        ``HashMethod`` hashes the file's bytes when the reference leaves the task."""
        if hash_method is None or isinstance(hash_method, str):
            return cls(path=new_path(file_name), name=file_name, hash=hash_method)
        return _Pending(path=new_path(file_name), name=file_name, method=hash_method)

    @classmethod
    def from_existing_remote(cls, remote_path: str, file_cache_key: str | None = None) -> File:
        """A reference to a file already in storage."""
        return cls(path=remote_path, name=os.path.basename(remote_path.rstrip("/")) or None, hash=file_cache_key)

    @classmethod
    def from_local_sync(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
    ) -> File:
        """Upload a local file to storage (all or nothing) and return a reference to the copy.
        ``hash_method`` hashes the bytes for cache keys (a ``str`` is the hash itself)."""
        source = Path(str(local_path).removeprefix("file://"))
        if not source.is_file():
            raise FileNotFoundError(f"File.from_local: {local_path} is not a file")
        target = remote_destination or new_path(source.name)
        content_hash = hash_of(hash_method, source.read_bytes()) if hash_method is not None else None
        with source.open("rb") as src, atomic_open(target) as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
        return cls(path=target, name=source.name, hash=content_hash)

    @classmethod
    async def from_local(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
    ) -> File:
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_destination, hash_method)

    @contextmanager
    def open_sync(self, mode: str = "rb", **kwargs: Any) -> Iterator[IO[Any]]:
        """Open for reading (``"rb"``, ``"r"``) or writing all-or-nothing (``"wb"``, ``"w"``)."""
        if mode in ("wb", "w"):
            with atomic_open(self.path, mode, **kwargs) as handle:
                yield handle
            return
        fs, resolved = filesystem(self.path)
        with storage_errors(self.path, "read"):
            handle = fs.open(resolved, mode, **kwargs)
        with handle:
            yield handle

    @asynccontextmanager
    async def open(self, mode: str = "rb", **kwargs: Any) -> AsyncIterator[Any]:
        """Open from async code. ``read()``/``write()`` work called plainly or awaited
        (``fh.read()`` and ``await fh.read()`` both give the data)."""
        manager = self.open_sync(mode, **kwargs)
        handle = await asyncio.to_thread(manager.__enter__)
        try:
            yield _EitherWay(handle)
        except BaseException as exc:
            await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await asyncio.to_thread(manager.__exit__, None, None, None)

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
        with storage_errors(self.path, "read"):
            fs.get_file(resolved, str(target))
        return str(target)

    async def download(self, local_path: str | Path | None = None) -> str:
        return await asyncio.to_thread(self.download_sync, local_path)

    def exists_sync(self) -> bool:
        fs, resolved = filesystem(self.path)
        with storage_errors(self.path, "check"):
            return bool(fs.exists(resolved))

    async def exists(self) -> bool:
        return await asyncio.to_thread(self.exists_sync)

    def with_content_hash(self, method: HashMethod | str) -> File:
        """This reference with a content hash: ``method`` gets the file's bytes."""
        if isinstance(method, str):
            return attrs.evolve(self, hash=method)
        with self.open_sync("rb") as handle:
            data = handle.read()
        return attrs.evolve(self, hash=hash_of(method, data))


@attrs.frozen
class _Pending(File):
    """``File.new_remote(hash_method=...)``: hashes what is written through ``open``."""

    method: Any = attrs.field(default=None, eq=False, repr=False)

    def with_content_hash(self, method: HashMethod | str) -> File:
        return File(self.path, self.name, self.hash).with_content_hash(method)


class _EitherWay:
    """A file handle whose ``read``/``write`` results can also be awaited, so code written for
    either the sync or the async handle of the reference SDK runs unchanged."""

    def __init__(self, handle: Any):
        self._handle = handle

    def read(self, *args: Any) -> Any:
        return _awaitable(self._handle.read(*args))

    def readline(self, *args: Any) -> Any:
        return _awaitable(self._handle.readline(*args))

    def write(self, data: Any) -> Any:
        return _awaitable(self._handle.write(data))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._handle)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class _Bytes(bytes):
    def __await__(self) -> Any:
        return _done(bytes(self))


class _Str(str):
    def __await__(self) -> Any:
        return _done(str(self))


class _Int(int):
    def __await__(self) -> Any:
        return _done(int(self))


def _done(value: Any) -> Any:
    return value
    yield  # a generator: awaiting it returns value at once


def _awaitable(value: Any) -> Any:
    if isinstance(value, bytes):
        return _Bytes(value)
    if isinstance(value, str):
        return _Str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _Int(value)
    return value


def sha256_file(path: str) -> str:
    """The SHA-256 of a stored file (streamed)."""
    digest = hashlib.sha256()
    fs, resolved = filesystem(path)
    with storage_errors(path, "read"), fs.open(resolved, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
