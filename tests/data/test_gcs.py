"""GCS through gcp-storage-emulator (a pure-Python GCS JSON-API server from PyPI) and the real
gcsfs client. fake-gcs-server (Go) is not installable here; gcsfs's own test fixture needs it
or docker.

gcsfs >= 2026.x first asks the Storage Control gRPC API for a bucket's layout, which an
emulator does not serve (each call waits 60 s); ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``
turns that probe off, so the flow runs in a child process that sets it before gcsfs loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
import pandas as pd
import gcsfs
import flyte
from flyte.io import DataFrame, Dir, File
from flyte.storage import GCS

endpoint, workdir = sys.argv[1], sys.argv[2]
gcsfs.GCSFileSystem(endpoint_url=endpoint, token="anon", project="test").mkdir("flyte-gcs")
flyte.init(storage=GCS(endpoint=endpoint, token="anon", project="test"), raw_data_path="gs://flyte-gcs/runs")
env = flyte.TaskEnvironment(name="gcs")

@env.task
async def produce() -> tuple[pd.DataFrame, File]:
    path = workdir + "/f.txt"
    open(path, "w").write("on gcs")
    return pd.DataFrame({"a": [1, 2]}), await File.from_local(path)

@env.task
async def consume(df: DataFrame, f: File) -> str:
    frame = await df.open(pd.DataFrame).all()
    async with f.open() as fh:
        return f"{int(frame['a'].sum())} {fh.read().decode()} {f.path.split('/')[0]}"

@env.task
async def main() -> str:
    df, f = await produce()
    return await consume(df, f)

print(flyte.run(main).outputs()[0])
"""


def test_dataframe_and_file_through_the_gcs_emulator(gcs_endpoint: str, tmp_path: Path) -> None:
    env = {**os.environ, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, gcs_endpoint, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "3 on gcs gs:"
