"""Every snippet of the README's "Data" section runs as written (the S3 one against the local
S3 server, with the README's config file pointed at it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
EXPECTED = [
    "3 lines, files ['a.txt', 'b.txt'], b=B",
    "Pune 30",
    "cache hit across runs: True",
    "True hello storage b'streamed'",
    "6",
]


def _section() -> str:
    text = README.read_text()
    start = text.index("\n## Data\n")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), re.S)


def _run(code: str, cwd: Path, env: dict[str, str]) -> str:
    (cwd / "snippet.py").write_text(code)
    result = subprocess.run(
        [sys.executable, "snippet.py"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_the_data_section_has_the_snippets_this_test_expects() -> None:
    assert len(_blocks("python")) == len(EXPECTED) and len(_blocks("yaml")) == 1


@pytest.mark.parametrize("index", range(4))
def test_local_snippet_runs_as_written(index: int, tmp_path: Path) -> None:
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home")}
    assert _run(_blocks("python")[index], tmp_path, env) == EXPECTED[index]


def test_object_store_snippet_runs_against_the_s3_server(s3_bucket: str, s3_endpoint: str, tmp_path: Path) -> None:
    config = _blocks("yaml")[0].replace("http://127.0.0.1:9000", s3_endpoint).replace("my-bucket", s3_bucket)
    (tmp_path / "config.yaml").write_text(config)
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home")}  # AWS_* credentials set by the fixture
    env.pop("FLYTE_AWS_ENDPOINT", None)  # the endpoint comes from the config file
    assert _run(_blocks("python")[4], tmp_path, env) == EXPECTED[4]
    import boto3

    keys = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=s3_bucket, Prefix="flyte/")
    assert any(o["Key"].endswith("data.parquet") for o in keys.get("Contents", []))
