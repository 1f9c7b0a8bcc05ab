"""create / get / delete against the batch service's HTTP API.

``urllib`` blocks, so every request runs on a worker thread (``asyncio.to_thread``): the event
loop keeps serving other tasks while a request waits.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from flyte.extend import ConnectorContext, ConnectorStatus, ConnectorTransientError, LogLink

# The service's job states, as flyte phases. Anything else is reported as it is: the runtime
# treats an unknown word as still running (and warns once) rather than failing the task.
PHASES = {
    "PENDING": "QUEUED",
    "RUNNING": "RUNNING",
    "DONE": "SUCCEEDED",
    "FAILED": "FAILED",
    "CANCELLED": "ABORTED",
}


class ServiceUnavailable(ConnectorTransientError):
    """The service answered 502/503/504 or could not be reached: ask again later."""


def _request(context: ConnectorContext, method: str, path: str, body: Any = None) -> Any:
    config = context.config
    token = context.secrets[config.token_secret]
    request = urllib.request.Request(
        f"{config.endpoint}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code in (502, 503, 504):
            raise ServiceUnavailable(f"{method} {path}: HTTP {exc.code}") from None
        detail = exc.read().decode(errors="replace")
        raise RuntimeError(f"batch service: {method} {path}: HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise ServiceUnavailable(f"{method} {path}: {exc.reason}") from None


async def create(context: ConnectorContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Submit the job; its id is the metadata (no secret goes in it)."""
    body = {"queue": context.config.queue, "payload": dict(inputs), "label": context.action}
    job = await asyncio.to_thread(_request, context, "POST", "/jobs", body)
    return {"job_id": job["id"]}


async def get(context: ConnectorContext, metadata: Mapping[str, Any]) -> ConnectorStatus:
    job_id = metadata["job_id"]
    job = await asyncio.to_thread(_request, context, "GET", f"/jobs/{job_id}")
    phase = PHASES.get(job["state"], job["state"])
    return ConnectorStatus(
        phase=phase,
        message=job.get("error") or "",
        retryable=bool(job.get("retryable")),
        log_links=[LogLink("job log", f"{context.config.endpoint}/jobs/{job_id}/log")],
        outputs=job.get("result") if phase == "SUCCEEDED" else None,
    )


async def delete(context: ConnectorContext, metadata: Mapping[str, Any]) -> None:
    """Cancel the job; the service answers 200 for a job that already ended."""
    await asyncio.to_thread(_request, context, "DELETE", f"/jobs/{metadata['job_id']}")
