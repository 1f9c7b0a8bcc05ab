"""File, Dir, DataFrame, flyte.storage and cached outputs through a real S3-compatible server.

The server is moto's, on 127.0.0.1; the clients are the real s3fs/botocore, with credentials
taken from the environment (``AWS_ACCESS_KEY_ID``...) or the config file's ``storage.s3``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import boto3
import pandas as pd

import flyte
import flyte.storage as storage
from flyte.io import DataFrame, Dir, File

from .conftest import KEY_ID, SECRET


def _keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def test_storage_functions_round_trip_through_s3(s3_storage: str, s3_bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "hello.txt"
    src.write_text("hello s3")
    url = storage.join(f"s3://{s3_bucket}", "plain", "hello.txt")

    async def main() -> None:
        assert await storage.put(str(src), url) == url
        assert await storage.exists(url)
        assert storage.exists_sync(url)
        back = await storage.get(url, str(tmp_path / "back.txt"))
        assert Path(back).read_text() == "hello s3"
        streamed = await storage.put_stream(b"streamed bytes", to_path=f"s3://{s3_bucket}/plain/s.bin")
        chunks = [c async for c in storage.get_stream(streamed, chunk_size=4)]
        assert b"".join(chunks) == b"streamed bytes" and len(chunks) == 4
        async with storage.open(f"s3://{s3_bucket}/plain/o.bin", "wb") as f:
            await f.write(b"opened")
        handle = await storage.open(f"s3://{s3_bucket}/plain/o.bin")
        assert await handle.read() == b"opened"
        await handle.close()

    asyncio.run(main())
    assert storage.is_remote(url) and not storage.is_remote(str(src))


def test_file_dir_and_dataframe_pass_between_tasks_through_s3(
    s3_storage: str, s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    env = flyte.TaskEnvironment(name="s3_pipeline")

    @env.task
    async def make_file() -> File:
        path = tmp_path / "notes.txt"
        path.write_text("line one\nline two\n")
        return await File.from_local(str(path))

    @env.task
    async def make_dir() -> Dir:
        folder = tmp_path / "folder"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.txt").write_text("A")
        (folder / "sub" / "b.txt").write_text("B")
        return await Dir.from_local(str(folder))

    @env.task
    async def make_frame() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2, 3], "name": ["a", "b", "c"]})

    @env.task
    async def read_all(f: File, d: Dir, df: DataFrame) -> dict:
        async with f.open("rb") as fh:
            text = fh.read().decode()
        names = [x.name async for x in d.walk()]
        b = await d.get_file("sub/b.txt")
        async with b.open() as fh:
            b_text = (await fh.read()).decode()
        frame = await df.open(pd.DataFrame).all()
        return {
            "text": text,
            "names": names,
            "b": b_text,
            "total": int(frame["x"].sum()),
            "missing": await d.get_file("nope.txt"),
        }

    @env.task
    async def main() -> dict:
        f, d, df = await make_file(), await make_dir(), await make_frame()
        assert f.path.startswith(s3_storage) and d.path.startswith(s3_storage)
        return await read_all(f, d, df)

    out = flyte.run(main).outputs()[0]
    assert out == {"text": "line one\nline two\n", "names": ["a.txt", "b.txt"], "b": "B", "total": 6, "missing": None}
    keys = _keys(s3_endpoint, s3_bucket, "runs/")
    assert any(k.endswith("/data.parquet") for k in keys)
    assert any(k.endswith("/folder/.flyte-manifest.json") for k in keys)
    assert any(k.endswith("/notes.txt") for k in keys)


def test_cached_output_is_read_back_from_s3_in_a_later_run(s3_storage: str, s3_endpoint: str, s3_bucket: str) -> None:
    env = flyte.TaskEnvironment(name="s3_cache")
    calls = []

    @env.task(cache="auto")
    async def build(n: int) -> pd.DataFrame:
        calls.append(n)
        return pd.DataFrame({"v": list(range(n))})

    @env.task
    async def main(n: int) -> int:
        df = await build(n)
        return int(df["v"].sum())

    assert flyte.run(main, n=5).outputs() == 10
    assert flyte.run(main, n=5).outputs() == 10  # a cache hit: the table is read from the bucket
    assert calls == [5]


def test_credentials_from_the_config_file(s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FLYTE_AWS_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"local:\n  storage: s3://{s3_bucket}/from-config\n"
        f"storage:\n  s3:\n    endpoint: {s3_endpoint}\n    region: us-east-1\n"
        f"    access_key_id: {KEY_ID}\n    secret_access_key: {SECRET}\n"
    )
    flyte.init_from_config(str(config))
    env = flyte.TaskEnvironment(name="s3_config")

    @env.task
    def write() -> File:
        f = File.new_remote("x.txt")
        with f.open_sync("w") as fh:
            fh.write("configured")
        return f

    f = flyte.run(write).outputs()[0]
    assert f.path.startswith(f"s3://{s3_bucket}/from-config/")
    with f.open_sync("r") as fh:
        assert fh.read() == "configured"


checkpoint_env = flyte.TaskEnvironment(name="s3_checkpoints")


@checkpoint_env.task(retries=2)
def resumes_from_s3(tmp: str) -> list[str]:
    """Each attempt loads the one before's checkpoint (bytes, then a folder) from the bucket."""
    checkpoint = flyte.ctx().checkpoint
    restored = checkpoint.load_sync()
    attempt = flyte.ctx().attempt
    if attempt == 1:
        assert restored is None
        checkpoint.save_sync(b"step 1")
        raise RuntimeError("preempted")
    if attempt == 2:
        assert restored.read_bytes() == b"step 1"
        folder = Path(tmp) / "tree"
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "last.ckpt").write_text("step 2")
        checkpoint.save_sync(folder)
        raise RuntimeError("preempted again")
    return [checkpoint.remote_destination, flyte.latest_checkpoint(restored).read_text()]


def test_checkpoints_live_in_the_run_storage_bucket(s3_storage: str, tmp_path: Path) -> None:
    destination, restored = flyte.run(resumes_from_s3, tmp=str(tmp_path)).outputs()[0]
    assert restored == "step 2"
    assert destination.startswith(f"{s3_storage}/") and "/checkpoints/" in destination
