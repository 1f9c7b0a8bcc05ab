"""The example batch service, started once per session in its own process (it outlives the
flyte processes the tests kill, as a real remote service would)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

TOKEN = "batch-s3cret-token"


class Service:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.endpoint}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def script(self, states: list[str], **behaviour: Any) -> None:
        """How the next job created behaves."""
        self._call("POST", "/admin/script", {"states": states, **behaviour})

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {job["id"]: job for job in self._call("GET", "/admin/jobs")}

    def job(self, job_id: str) -> dict[str, Any]:
        return self.jobs()[job_id]


@pytest.fixture(scope="session")
def service() -> Iterator[Service]:
    process = subprocess.Popen(
        [sys.executable, "-m", "flyte_batch_job.service", "--token", TOKEN],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on "), line
        yield Service(line.split()[-1])
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def token_secret() -> None:
    from flyte.runtime import secret_store

    secret_store.create("batch-token", TOKEN.encode())
