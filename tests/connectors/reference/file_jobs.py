"""A connector written the reference SDK's way (``flyte.connectors``), for the tests: its
"service" is a folder of job files, so another process (a run the tests kill, ``flyte runs
cancel``) sees the same jobs. Phases are flyteidl2 ``TaskExecution`` numbers and names, log
pages objects shaped like ``GetTaskLogsResponse``; flyteidl2 itself is not imported.

The task's ``custom_config`` says what the jobs do: ``dir`` (the folder), ``scripts`` (for the
n-th job created, the phases its polls report, the last repeated), ``outputs`` (what SUCCEEDED
returns), ``message``.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flyte.connectors import AsyncConnector, AsyncConnectorExecutorMixin, ConnectorRegistry, Resource, ResourceMeta
from flyte.extend import TaskTemplate
from flyte.models import NativeInterface, SerializationContext

TASK_TYPE = "file_job"


@dataclass
class FileJobMeta(ResourceMeta):
    job_id: str
    folder: str


def read_job(folder: str | Path, job_id: str) -> dict[str, Any]:
    return json.loads((Path(folder) / f"{job_id}.json").read_text())


def write_job(folder: str | Path, job: dict[str, Any]) -> None:
    path = Path(folder) / f"{job['id']}.json"
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(job))
    os.replace(temp, path)  # a reader in another process never sees half a file


def all_jobs(folder: str | Path) -> list[dict[str, Any]]:
    jobs = [json.loads(p.read_text()) for p in Path(folder).glob("*.json")]
    return sorted(jobs, key=lambda j: j["n"])


class FileJobConnector(AsyncConnector):
    name = "File Job Connector"
    task_type_name = TASK_TYPE
    metadata_type = FileJobMeta

    async def create(self, task_template, inputs: dict[str, Any] | None = None, **kwargs) -> FileJobMeta:
        custom = task_template.custom
        folder = custom["dir"]
        n = len(all_jobs(folder))
        scripts = custom["scripts"]
        job = {
            "id": uuid.uuid4().hex[:8],
            "n": n,
            "task": task_template.id.name,
            "type": task_template.type,
            "inputs": inputs,
            "script": scripts[min(n, len(scripts) - 1)],
            "outputs": custom.get("outputs"),
            "message": custom.get("message", ""),
            "secret_keys": sorted(k for k in kwargs if k != "output_prefix"),
            # the token itself stays out of the config (a sha256 of what to expect is in it)
            "secret_ok": hashlib.sha256(kwargs.get("job-token", "").encode()).hexdigest() == custom.get("token_sha"),
            "output_prefix": kwargs.get("output_prefix"),
            "leak": kwargs.get("job-token", ""),  # a service that echoes the token in its log
            "polls": 0,
            "deletes": 0,
            "delete_secret_ok": None,
        }
        write_job(folder, job)
        return FileJobMeta(job_id=job["id"], folder=folder)

    async def get(self, resource_meta: FileJobMeta, **kwargs) -> Resource:
        job = read_job(resource_meta.folder, resource_meta.job_id)
        script = job["script"]
        phase = script[min(job["polls"], len(script) - 1)]
        job["polls"] += 1
        write_job(resource_meta.folder, job)
        return Resource(
            phase=phase,
            message=job["message"] or f"job {job['id']} is {phase}",
            log_links=[SimpleNamespace(name="job page", uri=f"https://jobs.example/{job['id']}")],
            outputs=job["outputs"] if phase in ("SUCCEEDED", 3) else None,
        )

    async def delete(self, resource_meta: FileJobMeta, **kwargs) -> None:
        job = read_job(resource_meta.folder, resource_meta.job_id)
        job["deletes"] += 1
        job["delete_secret_ok"] = "job-token" in kwargs
        write_job(resource_meta.folder, job)

    async def get_logs(self, resource_meta: FileJobMeta, token: str = "", **kwargs):
        # Two pages, as the reference's example pages them: a body, then a header with the
        # next page's token; the second page's body, and no token.
        job = read_job(resource_meta.folder, resource_meta.job_id)
        pages = {
            "": [f"[job {job['id']}] started", f"[job {job['id']}] using token {job.get('leak', '')}"],
            "page-2": [f"[job {job['id']}] done"],
        }
        lines = [SimpleNamespace(message=text) for text in pages.get(token, [])]
        yield SimpleNamespace(body=SimpleNamespace(lines=lines), header=None)
        if token == "":
            yield SimpleNamespace(body=None, header=SimpleNamespace(token="page-2"))


ConnectorRegistry.register(FileJobConnector())


@dataclass
class FileJobConfig:
    folder: str
    scripts: list[list[Any]]
    outputs: dict[str, Any] | None = None
    message: str = ""
    token_sha: str | None = None


class FileJobTask(AsyncConnectorExecutorMixin, TaskTemplate):
    """The task, declared as the reference SDK's example declares its BatchJobTask."""

    _TASK_TYPE = TASK_TYPE

    def __init__(self, name: str, plugin_config: FileJobConfig, inputs=None, outputs=None, **kwargs):
        super().__init__(
            name=name,
            interface=NativeInterface(
                {k: v if isinstance(v, tuple) else (v, None) for k, v in (inputs or {}).items()},
                outputs or {},
            ),
            task_type=self._TASK_TYPE,
            image=None,
            **kwargs,
        )
        self.plugin_config = plugin_config

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        c = self.plugin_config
        return {
            "dir": c.folder,
            "scripts": c.scripts,
            "outputs": c.outputs,
            "message": c.message,
            "token_sha": c.token_sha,
        }
