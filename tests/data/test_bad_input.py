"""Bad storage input: one clear line naming the URL and what to do, never a credential."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

import flyte
import flyte.storage as storage
from flyte.errors import StorageError, StorageFilesystemMissingError, StorageNotFoundError, StoragePermissionError
from flyte.io import DataFrame, Dir, File

from .conftest import SECRET, free_port, wait_for_port


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_unknown_scheme_names_what_to_install() -> None:
    with pytest.raises(StorageFilesystemMissingError) as info:
        storage.exists_sync("nosuchscheme://bucket/key")
    assert "nosuchscheme://bucket/key" in _one_line(info.value)
    assert "unknown URL scheme 'nosuchscheme'" in str(info.value)


def test_missing_filesystem_package_names_the_package(tmp_path: Path) -> None:
    # A fresh interpreter in which adlfs cannot be imported (as if it were not installed).
    code = (
        "import sys; sys.modules['adlfs'] = None\n"
        "import flyte.storage as s\n"
        "try:\n    s.exists_sync('abfs://container/key')\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("StorageFilesystemMissingError abfs://container/key: no filesystem for abfs://")
    assert "pip install adlfs (or pip install 'flyte-core[abfs]')" in out


def test_missing_bucket_is_one_line_naming_it(s3_bucket: str, s3_endpoint: str) -> None:
    flyte.init(storage=storage.S3(endpoint=s3_endpoint, region="us-east-1"))
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/key.txt"
    with pytest.raises(StorageNotFoundError) as info:
        asyncio.run(storage.get(url))
    message = _one_line(info.value)
    assert message.startswith(url) and "does not exist" in message
    with pytest.raises(StorageError) as info:
        File.from_local_sync(__file__, url)
    assert url in _one_line(info.value) and SECRET not in str(info.value)


def test_missing_object_reads_clearly(s3_bucket: str, s3_endpoint: str) -> None:
    flyte.init(storage=storage.S3(endpoint=s3_endpoint, region="us-east-1"))
    frame = DataFrame.from_existing_remote(f"s3://{s3_bucket}/nothing/here.parquet")
    import pandas as pd

    with pytest.raises(StorageNotFoundError) as info:
        frame.open(pd.DataFrame).all_sync()
    assert f"s3://{s3_bucket}/nothing/here.parquet" in _one_line(info.value)


@pytest.fixture(scope="module")
def s3_with_auth(tmp_path_factory: pytest.TempPathFactory):
    """A moto server that checks signatures and IAM permissions, with one user that may not
    read the bucket: (endpoint, bucket, key id, secret)."""
    port = free_port()
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "4", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path_factory.mktemp("moto"),
    )
    try:
        wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        opts = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "x",
            "aws_secret_access_key": "y",
        }
        bucket = "locked-bucket"
        boto3.client("s3", **opts).create_bucket(Bucket=bucket)  # unauthenticated actions 1-4
        iam = boto3.client("iam", **opts)
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        yield endpoint, bucket, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_permission_denied_is_one_line_without_credentials(s3_with_auth, tmp_path: Path) -> None:
    endpoint, bucket, key_id, secret = s3_with_auth
    flyte.init(
        storage=storage.S3(endpoint=endpoint, region="us-east-1", access_key_id=key_id, secret_access_key=secret)
    )
    url = f"s3://{bucket}/data.txt"
    with pytest.raises(StoragePermissionError) as info:
        storage.exists_sync(url)
    message = _one_line(info.value)
    assert url in message and "permission denied" in message and "storage.s3" in message
    assert key_id not in message and secret not in message


def test_wrong_secret_is_one_line_without_credentials(s3_with_auth, tmp_path: Path) -> None:
    endpoint, bucket, key_id, _ = s3_with_auth
    wrong = "wrong-secret-value-0000000000000000000000"
    flyte.init(storage=storage.S3(endpoint=endpoint, region="us-east-1", access_key_id=key_id, secret_access_key=wrong))
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(StoragePermissionError) as info:
        File.from_local_sync(src, f"s3://{bucket}/f.txt")
    assert wrong not in str(info.value) and key_id not in str(info.value)
    assert f"s3://{bucket}/f.txt" in _one_line(info.value)


def test_no_credentials_at_all(s3_with_auth, monkeypatch, tmp_path: Path) -> None:
    endpoint, bucket, _, _ = s3_with_auth
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    flyte.init(storage=storage.S3(endpoint=endpoint, region="us-east-1"))
    with pytest.raises(StoragePermissionError) as info:
        storage.exists_sync(f"s3://{bucket}/key")
    message = _one_line(info.value)
    assert f"s3://{bucket}/key" in message and "no credentials were found" in message
    assert "AWS_ACCESS_KEY_ID" in message


def test_settings_reject_bad_values_and_hide_secrets() -> None:
    with pytest.raises(ValueError, match="addressing_style: 'sideways' is not valid"):
        storage.S3(addressing_style="sideways")
    with pytest.raises(TypeError) as info:
        storage.S3(secret_access_key=12345)
    assert "12345" not in str(info.value)
    shown = repr(storage.S3(access_key_id="AKIAXXXX", secret_access_key="s3cr3t"))
    assert "s3cr3t" not in shown and "AKIAXXXX" not in shown
    with pytest.raises(ValueError, match=r"storage.s3: unknown key\(s\) \['secret'\]"):
        storage.S3.from_config({"secret": "x"})
    with pytest.raises(TypeError, match="storage: expected a flyte.storage.S3/GCS/ABFS"):
        flyte.init(storage=42)


def test_a_failed_upload_leaves_nothing_visible(s3_bucket: str, s3_endpoint: str) -> None:
    flyte.init(storage=storage.S3(endpoint=s3_endpoint, region="us-east-1"))
    url = f"s3://{s3_bucket}/partial/big.bin"
    with pytest.raises(RuntimeError, match="producer died"), storage.open_sync(url, "wb") as handle:
        handle.write(b"x" * (12 * 2**20))  # past one multipart part
        raise RuntimeError("producer died")
    assert not storage.exists_sync(url)


def test_a_failed_local_write_leaves_nothing_visible(tmp_path: Path) -> None:
    target = tmp_path / "out" / "value.bin"
    with pytest.raises(RuntimeError), storage.open_sync(str(target), "wb") as handle:
        handle.write(b"half")
        raise RuntimeError("stop")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_dir_upload_that_fails_midway_is_never_complete(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a")
    (source / "b.txt").write_text("b")
    target = tmp_path / "dest"
    (target / "b.txt").mkdir(parents=True)  # the second file cannot land: the upload fails midway
    with pytest.raises(OSError):
        Dir.from_local_sync(source, str(target))
    assert (target / "a.txt").exists()  # the first file did land ...
    assert not (target / ".flyte-manifest.json").exists()  # ... but the folder is not complete
