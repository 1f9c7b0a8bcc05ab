"""Real object stores for the data-layer tests, started on 127.0.0.1 at a free port.

- S3: moto's server (``ThreadedMotoServer``), an S3-compatible HTTP server; flyte reaches it
  with the real s3fs/botocore clients and credentials from the environment or the config file.
- GCS: ``gcp-storage-emulator`` (pure Python, from PyPI), reached by the real gcsfs client.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

KEY_ID = "AKIAFLYTETESTKEY0001"
SECRET = "flyte-test-secret-do-not-log-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A running S3-compatible server (moto) on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, with the test's credentials in the environment (as AWS tools read them)."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FLYTE_AWS_ENDPOINT", s3_endpoint)
    name = f"flyte-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_storage(s3_bucket: str, s3_endpoint: str) -> Iterator[str]:
    """flyte initialised with run storage in the bucket; yields the storage URL."""
    import flyte
    from flyte.storage import S3

    url = f"s3://{s3_bucket}/runs"
    flyte.init(storage=S3(endpoint=s3_endpoint, region="us-east-1"), raw_data_path=url)
    yield url
    flyte.init()


@pytest.fixture(autouse=True)
def _reset_settings() -> Iterator[None]:
    """Each test starts from the local defaults (flyte.init settings are process-wide)."""
    import flyte

    flyte.init()
    yield
    flyte.init()


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcp-storage-emulator in its own process (in memory) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path_factory.mktemp("gcs"),
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
