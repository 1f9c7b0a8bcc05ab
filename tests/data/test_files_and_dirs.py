"""File and Dir members a user reaches for (the reference's), on local paths and file:// URLs."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

import flyte
import flyte.storage as storage
from flyte.io import Dir, File


def test_the_reference_file_and_dir_example_runs(tmp_path: Path, monkeypatch) -> None:
    """The public files-and-directories example: write files in the working folder, upload them,
    read them back with both the sync and the awaited read spellings, upload a folder, walk it."""
    monkeypatch.chdir(tmp_path)
    env = flyte.TaskEnvironment(name="files-and-folders")
    seen: list[str] = []

    @env.task
    async def write_file(name: str) -> File:
        with open(f"{name}.txt", "w") as f:
            f.write(f"hello world {name}")
        return await File.from_local(f"{name}.txt")

    @env.task
    async def write_and_check_files() -> Dir:
        vals = await asyncio.gather(*(write_file(name=n) for n in ["Alice", "Bob", "Eve"]))
        temp_dir = tempfile.mkdtemp(dir=tmp_path)
        for file in vals:
            async with file.open() as fh:
                contents = fh.read()
                (Path(temp_dir) / file.name).write_bytes(contents)
        return await Dir.from_local(temp_dir)

    @env.task
    async def check_dir(my_dir: Dir) -> None:
        async for file in my_dir.walk():
            async with file.open() as fh:
                seen.append(f"{file.name}: {(await fh.read()).decode('utf-8')}")

    @env.task
    async def create_and_check_dir() -> None:
        await check_dir(my_dir=await write_and_check_files())

    flyte.run(create_and_check_dir)
    assert seen == ["Alice.txt: hello world Alice", "Bob.txt: hello world Bob", "Eve.txt: hello world Eve"]


def test_file_open_on_local_paths_and_file_urls(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("plain")
    for f in (File(path=str(path)), File(path=path.as_uri()), File.from_existing_remote(path.as_uri())):
        with f.open_sync("r") as fh:
            assert fh.read() == "plain"
        assert f.exists_sync()

    async def read_async(f: File) -> bytes:
        async with f.open("rb") as fh:
            return await fh.read()

    assert asyncio.run(read_async(File(path=path.as_uri()))) == b"plain"
    out = File(path=(tmp_path / "new" / "b.txt").as_uri())
    with out.open_sync("w") as fh:
        fh.write("written")
    assert (tmp_path / "new" / "b.txt").read_text() == "written"
    assert not File(path=str(tmp_path / "missing")).exists_sync()


def test_dir_get_file_exists_and_nested_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "nested" / "deeper" / "leaf.txt").write_text("leaf")
    d = Dir.from_local_sync(src)

    async def check() -> None:
        assert await d.exists()
        top = await d.get_file("top.txt")
        assert top is not None and top.name == "top.txt"
        leaf = await d.get_file("nested/deeper/leaf.txt")
        async with leaf.open() as fh:
            assert fh.read() == b"leaf"
        assert await d.get_file("nope.txt") is None
        assert [f.name for f in await d.list_files()] == ["leaf.txt", "top.txt"]
        assert not await Dir(path=str(tmp_path / "absent")).exists()

    asyncio.run(check())
    with pytest.raises(ValueError, match="not a relative file name"):
        d.get_file_sync("../escape.txt")
    copy = Path(d.download_sync(tmp_path / "copy"))
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == [
        "nested/deeper/leaf.txt",
        "top.txt",
    ]


def test_a_flyte_folder_lists_exactly_its_manifest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    d = Dir.from_local_sync(src, str(tmp_path / "stored"))
    (tmp_path / "stored" / "stray.txt").write_text("written later by someone else")
    assert [f.name for f in d.walk_sync()] == ["a.txt"]


def test_storage_helpers(tmp_path: Path) -> None:
    assert storage.join("s3://bucket/", "/a/", "b.txt") == "s3://bucket/a/b.txt"
    assert storage.join(str(tmp_path), "x") == str(tmp_path / "x")
    p = storage.get_random_local_path("some/where/name.csv")
    assert p.name == "name.csv" and p.parent.is_dir()
    d = storage.get_random_local_directory()
    assert d.is_dir() and not any(d.iterdir())
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "x.txt").write_text("x")
    dest = storage.put_sync(str(src), str(tmp_path / "copied"), recursive=True)
    back = storage.get_sync(dest, str(tmp_path / "back"), recursive=True)
    assert (Path(back) / "sub" / "x.txt").read_text() == "x"
    with pytest.raises(IsADirectoryError, match="pass recursive=True"):
        storage.put_sync(str(src), str(tmp_path / "nope"))
    assert storage.get_configured_fsspec_kwargs("file") == {}
    assert storage.get_underlying_filesystem(path=str(tmp_path)).protocol[0] in ("file", "local")


def test_the_ray_examples_imports_work() -> None:
    """The public Ray example starts with ``import flyte.remote`` and ``import flyte.storage``."""
    import flyte.remote
    import flyte.storage

    assert flyte.storage.S3 and flyte.remote.Run and flyte.storage is storage
