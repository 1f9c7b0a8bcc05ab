"""A small batch service to run the example against: ``python -m flyte_batch_job.service``.

It stands in for any remote system a connector drives. Jobs are held in memory; each status
request moves a job one step along its script (``PENDING → RUNNING → DONE`` unless told
otherwise), so a test sees every state without waiting on a clock. Every request needs
``Authorization: Bearer <token>``.

- ``POST /jobs`` ``{"queue", "payload", "label"}`` → ``{"id"}``
- ``GET /jobs/<id>`` → ``{"state", "result", "error", "retryable"}``
- ``DELETE /jobs/<id>`` cancels a job (a finished one stays as it was)
- ``GET /jobs/<id>/log`` → the job's log, as text
- ``POST /admin/script`` ``{"states": [...], "flaky": n, "error": "...", "retryable": bool}``:
  the script of the next job created (``flaky``: its first n status requests answer 503)
- ``GET /admin/jobs`` → every job, with how many status and delete requests it received
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_SCRIPT = ("PENDING", "RUNNING", "DONE")
TERMINAL = ("DONE", "FAILED", "CANCELLED")


class Jobs:
    """The service's state, shared by its request threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.scripts: list[dict[str, Any]] = []
        self.ids = itertools.count(1)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            script = self.scripts.pop(0) if self.scripts else {}
            job_id = f"job-{next(self.ids)}"
            self.jobs[job_id] = {
                "id": job_id,
                "queue": body.get("queue"),
                "label": body.get("label"),
                "payload": body.get("payload"),
                "states": list(script.get("states") or DEFAULT_SCRIPT),
                "flaky": int(script.get("flaky", 0)),
                "error": script.get("error"),
                "retryable": bool(script.get("retryable", False)),
                "state": None,
                "gets": 0,
                "deletes": 0,
            }
            return {"id": job_id}

    def status(self, job_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return 404, {"error": f"no job {job_id}"}
            job["gets"] += 1
            if job["flaky"] > 0:
                job["flaky"] -= 1
                return 503, {"error": "busy, try again"}
            if job["state"] not in TERMINAL:
                job["state"] = job["states"].pop(0) if len(job["states"]) > 1 else job["states"][0]
            result = {"job": job_id, "payload": job["payload"]} if job["state"] == "DONE" else None
            error = job["error"] if job["state"] == "FAILED" else None
            return 200, {"state": job["state"], "result": result, "error": error, "retryable": job["retryable"]}

    def cancel(self, job_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return 404, {"error": f"no job {job_id}"}
            job["deletes"] += 1
            if job["state"] not in TERMINAL:
                job["state"] = "CANCELLED"
            return 200, {"state": job["state"]}


def handler(jobs: Jobs, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
            pass

        def _reply(self, code: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {token}":
                return True
            self._reply(401, {"error": "missing or wrong token"})
            return False

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_POST(self) -> None:
            if not self._authorised():
                return
            if self.path == "/jobs":
                self._reply(200, jobs.create(self._body()))
            elif self.path == "/admin/script":
                with jobs.lock:
                    jobs.scripts.append(self._body())
                self._reply(200, {"scripts": len(jobs.scripts)})
            else:
                self._reply(404, {"error": f"no route {self.path}"})

        def do_GET(self) -> None:
            if not self._authorised():
                return
            parts = self.path.strip("/").split("/")
            if parts == ["admin", "jobs"]:
                with jobs.lock:
                    self._reply(200, list(jobs.jobs.values()))
            elif len(parts) == 2 and parts[0] == "jobs":
                self._reply(*jobs.status(parts[1]))
            elif len(parts) == 3 and parts[0] == "jobs" and parts[2] == "log":
                self._reply(200, f"job {parts[1]}: {jobs.jobs.get(parts[1], {}).get('state')}\n", "text/plain")
            else:
                self._reply(404, {"error": f"no route {self.path}"})

        def do_DELETE(self) -> None:
            if not self._authorised():
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "jobs":
                self._reply(*jobs.cancel(parts[1]))
            else:
                self._reply(404, {"error": f"no route {self.path}"})

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", default=os.environ.get("BATCH_SERVICE_TOKEN"), help="the API token to require")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set BATCH_SERVICE_TOKEN")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Jobs(), args.token))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
