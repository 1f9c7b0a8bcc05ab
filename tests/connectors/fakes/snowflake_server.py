"""A fake Snowflake for tests: fakesnow's server under the real driver, with routes added so a
test can script a query's states, make status requests fail, and see cancellations.

Run with the fakes venv's Python; prints the port, then serves on 127.0.0.1 until killed.

- ``POST /_test/script`` ``{"states": [...], "flaky": n}``: the next query whose status is
  asked for reports these states, one per status request (the last one sticks); its first
  ``n`` status requests answer HTTP 503.
- ``GET /_test/aborts``: the query ids cancelled so far.
- ``POST /_test/reset``: drop the scripts no query has taken yet. A test whose process was
  killed before its query's first status request leaves its script behind; the next query (of
  another test) would take it and, scripted never to finish, run forever.
"""

from __future__ import annotations

import socket
import threading

import fakesnow.server as fake
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

lock = threading.Lock()
pending: list[dict] = []  # scripts not yet given to a query
scripts: dict[str, dict] = {}  # query id -> its script
aborted: list[str] = []


async def script(request: Request) -> JSONResponse:
    body = await request.json()
    with lock:
        pending.append({"states": list(body["states"]), "flaky": int(body.get("flaky", 0))})
    return JSONResponse({"success": True})


async def reset(request: Request) -> JSONResponse:
    with lock:
        pending.clear()
    return JSONResponse({"success": True})


async def aborts(request: Request) -> JSONResponse:
    with lock:
        return JSONResponse({"aborted": list(aborted)})


async def abort(request: Request) -> JSONResponse:
    qid = request.path_params["sfqid"]
    with lock:
        aborted.append(qid)
        scripts[qid] = {"states": ["ABORTED"], "flaky": 0}
    return JSONResponse({"success": True, "data": None})


async def monitoring(request: Request) -> JSONResponse:
    qid = request.path_params["sfqid"]
    with lock:
        if qid not in scripts and pending:
            scripts[qid] = pending.pop(0)
        entry = scripts.get(qid)
        if entry is not None:
            if entry["flaky"] > 0:
                entry["flaky"] -= 1
                return JSONResponse({"success": False, "message": "service unavailable"}, status_code=503)
            state = entry["states"].pop(0) if len(entry["states"]) > 1 else entry["states"][0]
            return JSONResponse({"data": {"queries": [{"status": state}]}, "success": True})
    return fake.monitoring_query(request)


fake.app.router.routes[0:0] = [
    Route("/_test/script", script, methods=["POST"]),
    Route("/_test/aborts", aborts, methods=["GET"]),
    Route("/_test/reset", reset, methods=["POST"]),
    Route("/queries/{sfqid}/abort-request", abort, methods=["POST"]),
    Route("/monitoring/queries/{sfqid}", monitoring, methods=["GET"]),
]

if __name__ == "__main__":
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    print(port, flush=True)
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning")
