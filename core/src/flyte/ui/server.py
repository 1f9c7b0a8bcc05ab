"""``flyte ui``'s web server: the standard library's threading HTTP server over the run store.

Why no framework: the UI is a handful of read-only GET routes over SQLite, rendered on the
server; ``http.server`` does that with nothing to install, and each request runs on its own
thread with its own store connection. Pages update live by fetching their ``<main>`` again
(``/ui.js``); no build step, no client framework.

Security: it binds to 127.0.0.1 unless told otherwise (:func:`check_host`); bound to loopback,
it answers only requests addressed to loopback by their ``Host`` header (:func:`host_allowed`:
a page of another site whose name was made to resolve to 127.0.0.1, DNS rebinding, is refused
with 421); every response
carries a Content-Security-Policy that allows only this origin's own script; reports are
served with a ``sandbox`` policy and shown in ``<iframe sandbox>``; files (logs, reports, the
YAML of a cluster run's objects, as plain text) are served only from the places the runtime
writes them under the run's folder.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from flyte._home import inside, state_root
from flyte.ui import templates, views

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'"
)
# A report is the task's own HTML: it runs in a sandbox, an origin of its own.
REPORT_CSP = "sandbox allow-scripts; default-src 'self' 'unsafe-inline' data:"

_RUN = r"(?P<run>[A-Za-z0-9_.-]+)"
_ACTION = r"(?P<action>a\d+)"
ROUTES = [
    (re.compile(r"^/$"), "runs"),
    (re.compile(rf"^/runs/{_RUN}$"), "run"),
    (re.compile(rf"^/runs/{_RUN}/actions/{_ACTION}$"), "action"),
    (re.compile(rf"^/runs/{_RUN}/actions/{_ACTION}/report$"), "report"),
    (re.compile(rf"^/runs/{_RUN}/actions/{_ACTION}/object\.yaml$"), "manifest"),
    (re.compile(rf"^/runs/{_RUN}/logs/{_ACTION}/(?P<attempt>\d+)$"), "log"),
    (re.compile(r"^/ui\.(?P<kind>js|css)$"), "static"),
]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> str | None:
    """None when ``host`` may be bound; otherwise why not. A non-loopback address needs
    ``allow_remote`` (the UI has no login: anyone who reaches it reads every run)."""
    if is_loopback(host) or allow_remote:
        return None
    return (
        f"--host {host}: the UI would be reachable from other machines, and it has no login "
        "(anyone who reaches it reads every run's inputs, outputs and logs); pass "
        "--allow-remote to bind it anyway, or use 127.0.0.1"
    )


def host_allowed(header: str | None, bound: str, port: int) -> bool:
    """Whether a request's ``Host`` header names this server as only a local client would: a
    loopback address or ``localhost``, and the bound port if it gives one. A browser tricked
    into calling a site's name that resolves to 127.0.0.1 (DNS rebinding) sends that name."""
    if not header:
        return False
    try:
        parts = urlsplit(f"//{header}")
        name, given = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, an unclosed [
        return False
    if not name or (given is not None and given != port):
        return False
    return name in ("localhost", bound.lower()) or is_loopback(name)


class Handler(BaseHTTPRequestHandler):
    server_version = "flyte-ui"
    links = templates.Links()

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def do_GET(self) -> None:
        host, port = self.server.server_address[:2]
        if is_loopback(str(host)) and not host_allowed(self.headers.get("Host"), str(host), port):
            # (Bound elsewhere, with --allow-remote, the machine's names and addresses are all fair.)
            self._text(
                HTTPStatus.MISDIRECTED_REQUEST,
                f"Host {self.headers.get('Host')!r} is not this server: the UI answers only "
                f"requests to localhost or {host}:{port} (a page of another site may not read it)",
            )
            return
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        path = unquote(parts.path)
        for pattern, name in ROUTES:
            match = pattern.match(path)
            if match is not None:
                try:
                    getattr(self, f"_{name}")(query=query, **match.groupdict())
                except views.NotFound as exc:
                    self._text(HTTPStatus.NOT_FOUND, str(exc))
                except ValueError as exc:  # a bad query parameter: say which and what is accepted
                    self._text(HTTPStatus.BAD_REQUEST, str(exc))
                return
        self._text(HTTPStatus.NOT_FOUND, f"no page at {path}")

    # -- routes -------------------------------------------------------------------------------
    def _runs(self, query: dict[str, str]) -> None:
        self._page("runs", *views.runs_view(query, self.links), query)

    def _run(self, query: dict[str, str], run: str) -> None:
        self._page(f"run {run}", *views.run_view(run, query, self.links), query)

    def _action(self, query: dict[str, str], run: str, action: str) -> None:
        self._page(f"{action} of run {run}", *views.action_view(run, action, self.links), query)

    def _report(self, query: dict[str, str], run: str, action: str) -> None:
        path = self._recorded_file(run, action, "report", None)
        self._send(HTTPStatus.OK, path.read_bytes(), "text/html; charset=utf-8", csp=REPORT_CSP)

    def _manifest(self, query: dict[str, str], run: str, action: str) -> None:
        path = self._recorded_file(run, action, "Kubernetes object", None)
        self._send(HTTPStatus.OK, path.read_bytes(), "text/plain; charset=utf-8")

    def _log(self, query: dict[str, str], run: str, action: str, attempt: str) -> None:
        path = self._recorded_file(run, action, "log", int(attempt))
        self._send(HTTPStatus.OK, path.read_bytes(), "text/plain; charset=utf-8")

    def _static(self, query: dict[str, str], kind: str) -> None:
        content_type = "text/javascript" if kind == "js" else "text/css"
        self._send(HTTPStatus.OK, (STATIC / f"ui.{kind}").read_bytes(), f"{content_type}; charset=utf-8")

    # -- helpers ------------------------------------------------------------------------------
    def _recorded_file(self, run: str, action: str, what: str, attempt: int | None) -> Path:
        """A report, log or Kubernetes object of an action, only where the runtime writes them
        under the state root (the path is built here, never read from the store)."""
        from flyte.kube.record import MANIFEST

        root = state_root()
        folder = root / "runs" / run  # never created here: a GET only reads
        if what == "log":
            path = folder / "logs" / f"{action}-{attempt}.log"
        else:
            path = folder / action / ("report.html" if what == "report" else MANIFEST)
        if not path.is_file():
            raise views.NotFound(
                f"run {run} action {action} has no {what}" + (f" for attempt {attempt}" if attempt else "")
            )
        return inside(root, path)

    def _page(self, title: str, main: str, live: bool, query: dict[str, str]) -> None:
        body = main if query.get("fragment") else templates.document(title, main, live, self.links)
        self._send(HTTPStatus.OK, body.encode(), "text/html; charset=utf-8", live=live)

    def _text(self, status: HTTPStatus, message: str) -> None:
        self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, live: bool = False, csp: str = CSP) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Flyte-Live", "1" if live else "0")
        self.end_headers()
        self.wfile.write(body)


class UIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, verbose: bool = False):
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)
        self.verbose = verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"


def start(host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False) -> UIServer:
    """Start the UI on a thread (``port`` 0: a free one); ``server.url`` says where,
    ``server.shutdown()`` stops it."""
    problem = check_host(host, allow_remote)
    if problem is not None:
        raise ValueError(problem)
    server = UIServer(host, port)
    threading.Thread(target=server.serve_forever, name="flyte-ui", daemon=True).start()
    return server
