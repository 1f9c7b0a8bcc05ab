"""Copying, streaming and opening data anywhere: the functions of ``flyte.storage``.

The async functions run the (blocking) filesystem calls on a worker thread, so a task's event
loop stays free. Writes are all-or-nothing: a local file is written under a temporary name and
renamed, an object-store upload is committed only when it completes (S3: a single PUT or a
completed multipart upload), so a reader never sees half a value.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import io
import os
import pathlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import IO, Any

from flyte.storage._filesystem import filesystem, fsspec_kwargs, get_filesystem, is_local, protocol_of, storage_errors
from flyte.storage._paths import get_random_local_path, new_path

CHUNK = 10 * 2**20


def get_underlying_filesystem(
    protocol: str | None = None, anonymous: bool = False, path: str | None = None, **kwargs: Any
) -> Any:
    """The fsspec filesystem for ``protocol`` (or ``path``'s scheme), with the configured settings."""
    if protocol is None:
        protocol = protocol_of(path or "")
    return get_filesystem(protocol, anonymous=anonymous, url=path, **kwargs)


def get_configured_fsspec_kwargs(protocol: str | None = None, anonymous: bool = False) -> dict[str, Any]:
    """The keyword arguments flyte passes to ``protocol``'s fsspec filesystem."""
    return fsspec_kwargs(protocol or "file", anonymous=anonymous)


def exists_sync(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (a file, a folder or an object prefix) exists."""
    fs, resolved = filesystem(path)
    with storage_errors(path, "check"):
        return bool(fs.exists(resolved))


async def exists(path: str | os.PathLike[str]) -> bool:
    """Async :func:`exists_sync`."""
    return await asyncio.to_thread(exists_sync, path)


def get_sync(from_path: str, to_path: str | os.PathLike[str] | None = None, recursive: bool = False) -> str:
    """Copy ``from_path`` (a file, or a folder with ``recursive=True``) to a local path."""
    if to_path is None:
        to_path = get_random_local_path(os.path.basename(os.fspath(from_path).rstrip("/")))
    target = os.fspath(to_path)
    fs, resolved = filesystem(from_path)
    with storage_errors(from_path, "read"):
        if recursive or fs.isdir(resolved):
            os.makedirs(target, exist_ok=True)
            fs.get(resolved.rstrip("/") + "/", target, recursive=True)
        else:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            fs.get_file(resolved, target)
    return target


async def get(from_path: str, to_path: str | os.PathLike[str] | None = None, recursive: bool = False) -> str:
    """Download ``from_path`` to ``to_path`` (a fresh temporary path by default); returns it."""
    return await asyncio.to_thread(get_sync, from_path, to_path, recursive)


def put_sync(from_path: str | os.PathLike[str], to_path: str | None = None, recursive: bool = False) -> str:
    """Upload a local file (or a folder with ``recursive=True``) to ``to_path`` (a fresh
    location in the run's storage by default); returns where it went."""
    source = os.fspath(from_path)
    if source.startswith("file://"):
        source = source[len("file://") :]
    if not os.path.exists(source):
        raise FileNotFoundError(f"flyte.storage.put: {source} does not exist")
    folder = os.path.isdir(source)
    if folder and not recursive:
        raise IsADirectoryError(f"flyte.storage.put: {source} is a folder; pass recursive=True")
    if to_path is None:
        to_path = new_path(None if folder else os.path.basename(source))
    if folder:
        put_tree(source, to_path)
    else:
        with builtins.open(source, "rb") as src, atomic_open(to_path) as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
    return to_path


async def put(from_path: str | os.PathLike[str], to_path: str | None = None, recursive: bool = False) -> str:
    """Async :func:`put_sync`."""
    return await asyncio.to_thread(put_sync, from_path, to_path, recursive)


def put_tree(source: str | os.PathLike[str], to_path: str, files: list[pathlib.Path] | None = None) -> list[str]:
    """Upload every file under the local folder ``source`` to ``to_path``, concurrently where
    the store allows (one fsspec bulk call); returns the relative names uploaded."""
    root = pathlib.Path(source)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if files is None else files
    names = [p.relative_to(root).as_posix() for p in files]
    fs, resolved = filesystem(to_path)
    base = resolved.rstrip("/")
    with storage_errors(to_path, "write"):
        if is_local(fs):
            for path, name in zip(files, names, strict=False):
                with builtins.open(path, "rb") as src, atomic_open(f"{base}/{name}") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
        elif files:
            fs.put([str(p) for p in files], [f"{base}/{n}" for n in names])
    return names


@contextlib.contextmanager
def atomic_open(url: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open ``url`` for writing so that it appears whole or not at all.

    Locally the data goes to a temporary sibling that is renamed over the target when the
    block ends; on an object store the upload is completed only then, and aborted if the block
    raises. Text modes (``"w"``) encode as UTF-8 unless ``encoding=`` says otherwise.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode {mode!r} is not valid (accepted: 'wb', 'w')")
    encoding = kwargs.pop("encoding", "utf-8")
    text = url if isinstance(url, str) else os.fspath(url)
    fs, path = filesystem(text)
    with storage_errors(text, "write"):
        if is_local(fs):
            directory = os.path.dirname(path) or "."
            os.makedirs(directory, exist_ok=True)
            tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.partial")
            handle: Any = builtins.open(tmp, "wb")  # noqa: SIM115 - renamed into place after the block
            text_handle = io.TextIOWrapper(handle, encoding=encoding) if mode == "w" else None
            try:
                yield text_handle if text_handle is not None else handle
            except BaseException:
                handle.close()
                os.unlink(tmp)
                raise
            if text_handle is not None:
                text_handle.flush()
                text_handle.detach()
            handle.close()
            os.replace(tmp, path)
            return
        handle = fs.open(path, "wb", **kwargs)
        wrapper = io.TextIOWrapper(handle, encoding=encoding, write_through=True) if mode == "w" else None
        try:
            yield wrapper if wrapper is not None else handle
        except BaseException:
            _discard(handle)
            raise
        if wrapper is not None:
            wrapper.flush()
            wrapper.detach()
        handle.close()


def _discard(handle: Any) -> None:
    """Drop an unfinished upload: nothing becomes visible (S3 aborts its multipart upload)."""
    with contextlib.suppress(Exception):
        handle.discard()
    handle.closed = True  # or fsspec's __del__ would commit what was written so far


def open_sync(path: str | os.PathLike[str], mode: str = "rb", **kwargs: Any) -> Any:
    """Open ``path`` for reading (``"rb"``/``"r"``), or writing all-or-nothing (``"wb"``/``"w"``).

    Use it as a context manager: a write becomes visible when the block ends without error.
    """
    if mode in ("wb", "w"):
        return atomic_open(path, mode, **kwargs)
    if mode not in ("rb", "r"):
        raise ValueError(f"flyte.storage.open: mode {mode!r} is not valid (accepted: 'rb', 'r', 'wb', 'w')")
    fs, resolved = filesystem(path)
    with storage_errors(path, "read"):
        return fs.open(resolved, mode, **kwargs)


class _AsyncFile:
    """A file opened by :func:`open`: async ``read``/``write``/``close``, usable with ``async with``."""

    def __init__(self, path: str | os.PathLike[str], mode: str, kwargs: dict[str, Any]):
        self._path, self._mode, self._kwargs = path, mode, kwargs
        self._writer: Any = None
        self._handle: Any = None

    async def _open(self) -> _AsyncFile:
        if self._mode in ("wb", "w"):
            self._writer = atomic_open(self._path, self._mode, **self._kwargs)
            self._handle = await asyncio.to_thread(self._writer.__enter__)
        else:
            self._handle = await asyncio.to_thread(open_sync, self._path, self._mode, **self._kwargs)
        return self

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> _AsyncFile:
        return await self._open()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.__exit__, exc_type, exc, tb)
        else:
            await asyncio.to_thread(self._handle.close)

    async def read(self, size: int = -1) -> Any:
        return await asyncio.to_thread(self._handle.read, size)

    async def write(self, data: Any) -> int:
        return await asyncio.to_thread(self._handle.write, data)

    async def close(self) -> None:
        await self.__aexit__(None, None, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def open(path: str | os.PathLike[str], mode: str = "rb", **kwargs: Any) -> _AsyncFile:
    """Open ``path`` from async code: ``async with flyte.storage.open(url) as f: await f.read()``
    (or ``f = await flyte.storage.open(url)``). Writes (``"wb"``) are all-or-nothing."""
    return _AsyncFile(path, mode, kwargs)


async def get_stream(path: str | os.PathLike[str], chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
    """The bytes of ``path`` as chunks of at most ``chunk_size``, read as they are consumed."""
    handle = await asyncio.to_thread(open_sync, path, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_size):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def put_stream(
    data_iterable: AsyncIterable[bytes] | Iterable[bytes] | bytes,
    *,
    name: str | None = None,
    to_path: str | None = None,
) -> str:
    """Write bytes (or an async/sync iterable of byte chunks) to ``to_path`` (a fresh location in
    the run's storage named ``name`` by default), all-or-nothing; returns the path."""
    target = to_path or new_path(name)
    writer = atomic_open(target, "wb")
    handle = await asyncio.to_thread(writer.__enter__)
    try:
        if isinstance(data_iterable, (bytes, bytearray, memoryview)):
            await asyncio.to_thread(handle.write, data_iterable)
        elif isinstance(data_iterable, AsyncIterable):
            async for chunk in data_iterable:
                await asyncio.to_thread(handle.write, chunk)
        else:
            for chunk in data_iterable:
                await asyncio.to_thread(handle.write, chunk)
    except BaseException as exc:
        await asyncio.to_thread(writer.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await asyncio.to_thread(writer.__exit__, None, None, None)
    return target
