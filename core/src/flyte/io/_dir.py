"""``flyte.io.Dir``: a folder in storage, passed between tasks by reference.

A folder uploaded by flyte is complete when its manifest, ``.flyte-manifest.json`` (every file
and its size), is written, which happens last: readers of such a folder see exactly the files
the manifest lists, never a half-finished upload's. A folder flyte did not write (``Dir.
from_existing_remote``) has no manifest and is listed as the store shows it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs

from flyte.io._file import File, sha256_file
from flyte.io._hashing import HashMethod, hash_of
from flyte.storage._filesystem import filesystem, storage_errors
from flyte.storage._operations import atomic_open, put_tree
from flyte.storage._paths import new_path

MANIFEST = ".flyte-manifest.json"


@attrs.frozen
class Dir:
    """A reference to a folder: ``path`` is a local path or an object-store URL; ``hash`` (optional)
    is a content key downstream cache keys use instead of the path."""

    path: str
    name: str | None = None
    hash: str | None = None

    @classmethod
    def new_remote(cls, dir_name: str | None = None) -> Dir:
        """A new, empty location in the run's storage."""
        return cls(path=new_path(dir_name), name=dir_name)

    @classmethod
    def from_existing_remote(cls, remote_path: str, dir_cache_key: str | None = None) -> Dir:
        """A reference to a folder already in storage."""
        path = remote_path.rstrip("/")
        return cls(path=path, name=os.path.basename(path) or None, hash=dir_cache_key)

    @classmethod
    def from_local_sync(
        cls, local_path: str | Path, remote_path: str | None = None, dir_cache_key: str | None = None
    ) -> Dir:
        """Upload a local folder (recursively, files in parallel on object stores) and return a
        reference to the copy. ``dir_cache_key`` is a precomputed content key for cache keys."""
        source = Path(str(local_path).removeprefix("file://"))
        if not source.is_dir():
            raise NotADirectoryError(f"Dir.from_local: {local_path} is not a folder")
        target = (remote_path or new_path(source.name)).rstrip("/")
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.name != MANIFEST)
        names = put_tree(source, target, files)
        sizes = {name: path.stat().st_size for name, path in zip(names, files, strict=False)}
        with atomic_open(f"{target}/{MANIFEST}", "w") as handle:  # last: the folder is now complete
            json.dump({"files": sizes}, handle)
        return cls(path=target, name=source.name, hash=dir_cache_key)

    @classmethod
    async def from_local(
        cls, local_path: str | Path, remote_path: str | None = None, dir_cache_key: str | None = None
    ) -> Dir:
        return await asyncio.to_thread(cls.from_local_sync, local_path, remote_path, dir_cache_key)

    # -- listing ---------------------------------------------------------------------------------
    def _names(self) -> list[str]:
        """The files' names relative to the folder: the manifest's, or the store's listing."""
        fs, resolved = filesystem(self.path)
        base = resolved.rstrip("/")
        with storage_errors(self.path, "list"):
            manifest = f"{base}/{MANIFEST}"
            if fs.exists(manifest):
                with fs.open(manifest, "rb") as handle:
                    return sorted(json.load(handle)["files"])
            if not fs.exists(base):
                raise FileNotFoundError(base)
            return sorted(
                os.path.relpath(p, base).replace(os.sep, "/")
                for p in fs.find(base)
                if os.path.basename(p) != MANIFEST and ".partial" not in os.path.basename(p)
            )

    def walk_sync(self) -> Iterator[File]:
        """Every file in the folder (recursively), as :class:`File` references, sorted by path."""
        root = self.path.rstrip("/")
        for name in self._names():
            yield File(path=f"{root}/{name}", name=os.path.basename(name))

    async def walk(self) -> AsyncIterator[File]:
        for file in await asyncio.to_thread(lambda: list(self.walk_sync())):
            yield file

    def list_files_sync(self) -> list[File]:
        return list(self.walk_sync())

    async def list_files(self) -> list[File]:
        return await asyncio.to_thread(self.list_files_sync)

    def get_file_sync(self, file_name: str) -> File | None:
        """The file ``file_name`` (a name or a relative path) in the folder, or None."""
        if file_name in ("", ".") or file_name.startswith("/") or ".." in Path(file_name).parts:
            raise ValueError(f"Dir.get_file: {file_name!r} is not a relative file name inside the folder")
        file = File(path=f"{self.path.rstrip('/')}/{file_name}", name=os.path.basename(file_name))
        return file if file.exists_sync() else None

    async def get_file(self, file_name: str) -> File | None:
        return await asyncio.to_thread(self.get_file_sync, file_name)

    def download_sync(self, local_path: str | Path | None = None) -> str:
        """Copy the folder to ``local_path`` (a temporary folder by default); returns its path."""
        import tempfile

        fs, resolved = filesystem(self.path)
        base = resolved.rstrip("/")
        target = Path(local_path) if local_path else Path(tempfile.mkdtemp(prefix="flyte-dir-"))
        target.mkdir(parents=True, exist_ok=True)
        names = self._names()
        for name in names:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
        with storage_errors(self.path, "read"):
            if names:
                fs.get([f"{base}/{n}" for n in names], [str(target / n) for n in names])
        return str(target)

    async def download(self, local_path: str | Path | None = None) -> str:
        return await asyncio.to_thread(self.download_sync, local_path)

    def exists_sync(self) -> bool:
        fs, resolved = filesystem(self.path)
        with storage_errors(self.path, "check"):
            return bool(fs.exists(resolved)) and fs.isdir(resolved)

    async def exists(self) -> bool:
        return await asyncio.to_thread(self.exists_sync)

    def with_content_hash(self, method: HashMethod | str) -> Dir:
        """This reference with a content key: ``method`` gets a listing of every file (relative
        path and SHA-256, one per line), so equal folders hash equally wherever they are."""
        if isinstance(method, str):
            return attrs.evolve(self, hash=method)
        root = self.path.rstrip("/")
        listing = "".join(f"{name}\t{sha256_file(f'{root}/{name}')}\n" for name in self._names())
        return attrs.evolve(self, hash=hash_of(method, listing.encode()))
