"""The BigQuery emulator (bqemulator, offline: tests/connectors/fakes/bigquery_server.py),
started once per session in its own process group and venv; the client reaches it through
``BIGQUERY_EMULATOR_HOST``, the client's own setting for emulators."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FAKES = REPO / ".venv-fakes" / "bigquery" / "bin" / "python"
SERVER = REPO / "tests" / "connectors" / "fakes" / "bigquery_server.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not FAKES.exists():
        pytest.fail(f"{FAKES} is missing: run `make fakes` (make setup does it)")
    home = tmp_path_factory.mktemp("bq-home")
    rest, grpc = _free_port(), _free_port()
    log = (home / "emulator.log").open("w")
    process = subprocess.Popen(
        [str(FAKES), str(SERVER), str(home), str(rest), str(grpc)], stdout=log, stderr=log, start_new_session=True
    )
    url = f"http://127.0.0.1:{rest}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/bigquery/v2/projects/flyte/datasets", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"bqemulator did not start: {(home / 'emulator.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)
        previous = os.environ.get("BIGQUERY_EMULATOR_HOST")
        os.environ["BIGQUERY_EMULATOR_HOST"] = url
        yield url
        if previous is None:
            os.environ.pop("BIGQUERY_EMULATOR_HOST", None)
        else:
            os.environ["BIGQUERY_EMULATOR_HOST"] = previous
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # its workers too
        process.wait()
        log.close()
