"""The data layer's performance table: `python benchmarks/data.py [--quick]`.

1. A 100 MB pandas DataFrame passed between two local tasks (producer returns it, consumer
   declares ``pd.DataFrame``) against a plain ``to_parquet`` + ``read_parquet`` of it.
2. A 1 GB folder (64 files of 16 MB) uploaded to a local S3 server (moto, its own process)
   with ``Dir.from_local`` against the client library's own bulk upload (s3fs ``put(recursive)``),
   boto3's transfer manager and obstore.
3. One 256 MB object put and get through fsspec/s3fs and obstore.
4. Peak memory (RSS) of a run passing a 1 GB DataFrame in chunks, against building the whole
   frame in memory once.

Medians of several repeats, baseline beside each figure and the ratio. Run by hand on a quiet
machine; nothing here is asserted by the tests. State and data go to temporary folders.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["FLYTE_HOME"] = tempfile.mkdtemp(prefix="flyte-bench-data-")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import numpy as np
import pandas as pd

import flyte

env = flyte.TaskEnvironment(name="bench_data")
ROWS_100MB = 1_300_000  # 10 float64 columns: ~104 MB in memory


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"c{i}": rng.random(rows) for i in range(10)})


@env.task
async def produce(rows: int) -> pd.DataFrame:
    return frame(rows)


@env.task
async def consume(df: pd.DataFrame) -> float:
    return float(df["c0"].iloc[0])


@env.task
async def pipeline(rows: int) -> float:
    return await consume(await produce(rows))


def median_seconds(fn: Callable[[], object], repeats: int, cleanup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if cleanup is not None:
            cleanup()  # untimed
    return statistics.median(times)


def row(name: str, ours: float, base: float, base_name: str, unit: str = "s") -> None:
    print(f"| {name} | {ours:.3f} {unit} | {base_name}: {base:.3f} {unit} | {ours / base:.2f}x |")


def bench_dataframe(repeats: int) -> None:
    flyte.init()
    scratch = Path(tempfile.mkdtemp(prefix="bench-df-"))

    def plain() -> None:
        df = frame(ROWS_100MB)
        df.to_parquet(scratch / "plain.parquet")
        float(pd.read_parquet(scratch / "plain.parquet")["c0"].iloc[0])

    def ours() -> None:
        flyte.run(pipeline, ROWS_100MB)

    ours()  # warm: imports, plugin discovery
    base = median_seconds(plain, repeats)
    mine = median_seconds(ours, repeats)
    row("100 MB DataFrame between two local tasks (incl. building it)", mine, base, "to_parquet+read_parquet")
    shutil.rmtree(scratch, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_s3() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    raise RuntimeError("moto server did not start")


def bench_s3(repeats: int, files: int, file_mb: int) -> None:
    import boto3
    import obstore
    from boto3.s3.transfer import TransferConfig
    from obstore.store import S3Store

    import flyte.storage as storage
    from flyte.io import Dir

    proc, endpoint = start_s3()
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="bench")
        flyte.init(storage=storage.S3(endpoint=endpoint), raw_data_path="s3://bench/flyte")
        source = Path(tempfile.mkdtemp(prefix="bench-dir-"))
        payload = os.urandom(file_mb * 2**20)
        for i in range(files):
            (source / f"part-{i:03d}.bin").write_bytes(payload)
        total_mb = files * file_mb
        fs = storage.get_underlying_filesystem("s3")
        counter = iter(range(10_000))

        def ours() -> None:
            Dir.from_local_sync(source, f"s3://bench/ours/{next(counter)}")

        def s3fs_bulk() -> None:
            fs.put(str(source) + "/", f"bench/s3fs/{next(counter)}/", recursive=True)

        config = TransferConfig(max_concurrency=32)

        def boto3_transfer() -> None:
            from concurrent.futures import ThreadPoolExecutor

            prefix = f"boto3/{next(counter)}"
            with ThreadPoolExecutor(32) as pool:
                list(
                    pool.map(
                        lambda p: client.upload_file(str(p), "bench", f"{prefix}/{p.name}", Config=config),
                        sorted(source.iterdir()),
                    )
                )

        store = S3Store(
            "bench",
            endpoint=endpoint,
            access_key_id="bench",
            secret_access_key="bench-secret",
            region="us-east-1",
            client_options={"allow_http": True},
        )

        def obstore_put() -> None:
            import asyncio

            prefix = f"obstore/{next(counter)}"

            async def main() -> None:
                await asyncio.gather(
                    *(obstore.put_async(store, f"{prefix}/{p.name}", p) for p in sorted(source.iterdir()))
                )

            asyncio.run(main())

        def empty() -> None:  # moto keeps objects in memory: drop each repeat's upload
            pages = client.get_paginator("list_objects_v2").paginate(Bucket="bench")
            keys = [{"Key": o["Key"]} for page in pages for o in page.get("Contents", [])]
            for start in range(0, len(keys), 1000):
                client.delete_objects(Bucket="bench", Delete={"Objects": keys[start : start + 1000]})

        base = median_seconds(s3fs_bulk, repeats, empty)
        row(
            f"{total_mb} MB folder to S3: Dir.from_local",
            median_seconds(ours, repeats, empty),
            base,
            "s3fs put(recursive)",
        )
        row(
            f"{total_mb} MB folder to S3: boto3 transfer manager",
            median_seconds(boto3_transfer, repeats, empty),
            base,
            "s3fs put(recursive)",
        )
        row(
            f"{total_mb} MB folder to S3: obstore put_async",
            median_seconds(obstore_put, repeats, empty),
            base,
            "s3fs put(recursive)",
        )
        # One large object through each library.
        big = source / "big.bin"
        big.write_bytes(os.urandom(256 * 2**20))

        def fsspec_put() -> None:
            storage.put_sync(str(big), "s3://bench/one/big.bin")

        def obstore_one() -> None:
            obstore.put(store, "one/big-obstore.bin", big)

        def fsspec_get() -> None:
            storage.get_sync("s3://bench/one/big.bin", str(source / "back.bin"))

        def obstore_get() -> None:
            (source / "back2.bin").write_bytes(bytes(obstore.get(store, "one/big-obstore.bin").bytes()))

        row(
            "256 MB object put: flyte.storage (s3fs)",
            median_seconds(fsspec_put, repeats),
            median_seconds(obstore_one, repeats),
            "obstore",
        )
        row(
            "256 MB object get: flyte.storage (s3fs)",
            median_seconds(fsspec_get, repeats),
            median_seconds(obstore_get, repeats),
            "obstore",
        )
        shutil.rmtree(source, ignore_errors=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        flyte.init()


CHUNKED = """
import os, sys, tempfile
os.environ["FLYTE_HOME"] = tempfile.mkdtemp(prefix="flyte-bench-mem-")
import numpy as np, pandas as pd, flyte
from flyte.io import DataFrame
mode, chunks, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
env = flyte.TaskEnvironment(name="mem")

def parts():
    rng = np.random.default_rng(0)
    for _ in range(chunks):
        yield pd.DataFrame({f"c{i}": rng.random(rows) for i in range(10)})

@env.task
async def produce() -> DataFrame:
    return await DataFrame.from_local(parts())

@env.task
async def consume(df: DataFrame) -> float:
    total = 0.0
    async for chunk in df.open(pd.DataFrame).iter():
        total += float(chunk["c0"].sum())
    return total

@env.task
async def main() -> float:
    return await consume(await produce())

if mode == "chunks":
    flyte.run(main)
elif mode == "whole":
    whole = pd.concat(list(parts()))
    whole.to_parquet(os.path.join(os.environ["FLYTE_HOME"], "whole.parquet"))
else:  # imports only
    import pyarrow.parquet, flyte.io._transport
# VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept across exec).
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024)
"""


def bench_memory(total_mb: int) -> None:
    rows = 1_300_000 // 10  # ~10 MB per chunk
    chunks = total_mb // 10

    def peak(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", CHUNKED, mode, str(chunks), str(rows)], capture_output=True, text=True, check=True
        )
        return float(out.stdout.strip().splitlines()[-1])

    chunked, whole, imports = peak("chunks"), peak("whole"), peak("imports")
    row(
        f"peak RSS passing a {total_mb} MB DataFrame in 10 MB chunks", chunked, whole, "whole frame + to_parquet", "MiB"
    )
    row(
        "  the same, above the interpreter with pandas/pyarrow/flyte imported",
        chunked - imports,
        whole - imports,
        "whole frame + to_parquet",
        "MiB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 256 MB instead of 1 GB")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    print("| figure | ours | baseline | ratio |\n|---|---|---|---|")
    bench_memory(256 if args.quick else 1024)  # first: a small parent process
    bench_dataframe(repeats)
    bench_s3(repeats, files=16 if args.quick else 64, file_mb=16)


if __name__ == "__main__":
    main()
