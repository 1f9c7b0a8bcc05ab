"""`flyte ui` over HTTP: routes, filters, paging, bad parameters, and its security rules
(loopback by default, an explicit flag and a warning otherwise, escaping, sandboxed reports,
no secret values, no file outside what the store records). The page on disk comes from the
same templates and is written while the run goes."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading

import pytest

import flyte
from flyte.runtime import store as st
from flyte.ui import server
from http_get import get

env = flyte.TaskEnvironment(name="uitest")


@env.task
def hostile(text: str) -> None:
    print(text)
    raise ValueError(text)


@env.task(report=True)
async def reporting() -> int:
    flyte.report.log("<h2 id='inside'>a report</h2><script>parent.document.title='owned'</script>")
    return 1


@env.task
async def child(i: int) -> int:
    return i


@env.task
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(child(i) for i in range(n))))


def test_user_strings_are_escaped_everywhere(ui):
    flyte.init()
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    with pytest.raises(ValueError):
        flyte.with_runcontext(name="rhostile").run(hostile, payload)
    for path in ("", "runs/rhostile", "runs/rhostile/actions/a0"):
        status, headers, body = get(ui + path)
        assert status == 200
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
    page = (st.db_path().parent / "pages" / "rhostile.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_reports_are_sandboxed(ui):
    flyte.init()
    flyte.with_runcontext(name="rreport").run(reporting)
    _, _, page = get(ui + "runs/rreport/actions/a0")
    (frame,) = re.findall(r"<iframe[^>]*>", page)
    assert 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in frame
    status, headers, body = get(ui + "runs/rreport/actions/a0/report")
    assert status == 200 and "id='inside'" in body
    assert headers["Content-Security-Policy"].startswith("sandbox allow-scripts")


def test_runs_list_filters_pages_and_refuses_bad_parameters(ui):
    flyte.init()
    for i in range(3):
        flyte.with_runcontext(name=f"rok{i}").run(child, i)
    with pytest.raises(ValueError):
        flyte.with_runcontext(name="rbad").run(hostile, "boom")
    _, _, everything = get(ui)
    assert all(f'data-run="{name}"' in everything for name in ("rok0", "rok1", "rok2", "rbad"))
    _, _, failed = get(ui + "?status=FAILED")
    assert 'data-run="rbad"' in failed and 'data-run="rok0"' not in failed
    _, _, by_task = get(ui + "?task=uitest.child")
    assert 'data-run="rok1"' in by_task and 'data-run="rbad"' not in by_task
    _, _, future = get(ui + "?since=2999-01-01")
    assert "no runs match" in future
    for query, message in (
        ("?status=sideways", "status: 'sideways' is not a phase (accepted: FAILED, ABORTED"),
        ("?since=yesterday", "since: 'yesterday' is not a date (YYYY-MM-DD"),
        ("?offset=-1", "offset: '-1' is not a whole number"),
    ):
        status, _, body = get(ui + query)
        assert status == 400 and message in body
    assert get(ui + "runs/nosuchrun")[0] == 404
    assert get(ui + "runs/rok0/actions/a7")[0] == 404
    assert get(ui + "runs/rok0/logs/a0/1")[0] == 404  # it printed nothing
    assert get(ui + "runs/..%2F..%2Fetc/actions/a0")[0] == 404  # no path outside the store


def test_a_fan_out_is_one_node_with_counts_and_its_members_are_paged(ui):
    flyte.init()
    flyte.with_runcontext(name="rfan").run(fan_out, 250)
    _, _, page = get(ui + "runs/rfan")
    assert "uitest.child × 250" in page and "succeeded 250" in page
    assert page.count('class="action"') == 100  # one page of actions
    _, _, children = get(ui + "runs/rfan?parent=a0&offset=200")
    assert children.count('class="action"') == 50
    assert 'data-action="a201"' in children and "previous" in children


def test_the_ui_binds_to_loopback_unless_told_otherwise():
    assert server.check_host("127.0.0.1", False) is None
    assert server.check_host("::1", False) is None
    problem = server.check_host("0.0.0.0", False)
    assert problem and "--allow-remote" in problem and "0.0.0.0" in problem
    with pytest.raises(ValueError, match="--allow-remote"):
        server.start("0.0.0.0", 0)
    cli = [sys.executable, "-m", "flyte.cli.main", "ui", "--port", "0"]
    refused = subprocess.run([*cli, "--host", "0.0.0.0"], capture_output=True, text=True, env=dict(os.environ))
    assert refused.returncode != 0 and "--allow-remote" in refused.stderr
    allowed = subprocess.Popen(
        [*cli, "--host", "0.0.0.0", "--allow-remote"], stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        warning = allowed.stderr.readline()
        assert warning.startswith("warning: serving on 0.0.0.0: anyone who can reach this address")
        serving = allowed.stderr.readline()
        assert serving.startswith("flyte ui: http://0.0.0.0:")
        port = int(re.search(r":(\d+)/", serving)[1])
        assert get(f"http://127.0.0.1:{port}/")[0] == 200
    finally:
        allowed.terminate()
        allowed.wait(timeout=60)


def _get_with_host(url: str, host: str | None) -> tuple[int, str]:
    """GET ``url`` with the given Host header (None: none at all), as a rebinding page's would be."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest("GET", "/", skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_requests_not_addressed_to_loopback_are_refused(ui):
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 reads the UI
    # as its own origin, with its own name in Host.
    port = int(ui.rsplit(":", 1)[1].strip("/"))
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", f"localhost:{port + 1}", "", None):
        status, body = _get_with_host(ui, host)
        assert status == 421 if host else status in (400, 421), (host, status)
        assert "<html" not in body.lower() and "answers only requests to localhost" in body, body
    for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", "127.0.0.1", f"LOCALHOST:{port}"):
        assert _get_with_host(ui, host)[0] == 200, host
    assert server.host_allowed(f"[::1]:{port}", "127.0.0.1", port)
    assert not server.host_allowed("[::1", "127.0.0.1", port)
    assert not server.host_allowed(f"localhost:{port}x", "127.0.0.1", port)


def test_a_busy_port_is_a_clear_error():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "flyte.cli.main", "ui", "--port", str(port)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr


def test_no_secret_value_is_served(ui):
    from flyte.runtime import secret_store

    flyte.init()
    secret_store.create("ui-token", b"ui-s3cret-9876")
    secret_env = flyte.TaskEnvironment(name="uisecret", secrets=flyte.Secret(key="ui-token", as_env_var="UI_TOKEN"))

    @secret_env.task
    def uses_it() -> None:
        print("token is", os.environ["UI_TOKEN"])
        raise RuntimeError(f"rejected {os.environ['UI_TOKEN']}")

    with pytest.raises(RuntimeError):
        flyte.with_runcontext(name="rleak").run(uses_it)
    for path in ("", "runs/rleak", "runs/rleak/actions/a0", "runs/rleak/logs/a0/1"):
        status, _, body = get(ui + path)
        assert status == 200 and "ui-s3cret-9876" not in body
    assert "token is ***" in get(ui + "runs/rleak/logs/a0/1")[2]


GATE = threading.Event()


@env.task
def waits_for_gate() -> str:
    print("waiting at the gate")
    GATE.wait(120)
    return "through"


def test_the_page_on_disk_is_written_at_start_and_refreshed_until_the_end():
    flyte.init()
    GATE.clear()
    page = st.db_path().parent / "pages" / "rgate.html"
    outcome: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: outcome.update(run=flyte.with_runcontext(name="rgate").run(waits_for_gate))
    )
    runner.start()
    try:
        _wait(lambda: page.exists())
        first = page.read_text()
        assert 'http-equiv="refresh"' in first and 'data-phase="RUNNING"' in first
        # refreshed while it goes: the action appears, running
        _wait(lambda: 'class="action" data-action="a0" data-phase="RUNNING"' in page.read_text())
    finally:
        GATE.set()
        runner.join(120)
    final = page.read_text()
    assert 'http-equiv="refresh"' not in final and 'data-phase="SUCCEEDED"' in final
    assert outcome["run"].url == page.as_uri()


@env.task
async def outlasts_a_page_refresh() -> str:
    await asyncio.sleep(1.3)  # past the first page (0.1 s) and one refresh (1 s)
    return "done"


def test_a_page_that_cannot_be_written_while_the_run_goes_does_not_stop_it(monkeypatch, caplog):
    from flyte.runtime import page

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    flyte.init()
    monkeypatch.setattr(page, "write_first_page", disk_full)
    monkeypatch.setattr(page, "write_run_page", disk_full)
    with caplog.at_level("WARNING", logger="flyte.runtime.pulse"):
        assert flyte.with_runcontext(name="rfull").run(outlasts_a_page_refresh).outputs() == "done"
    warnings = [r.getMessage() for r in caplog.records if r.name == "flyte.runtime.pulse"]
    assert warnings == ["flyte: the page of run rfull was not written: [Errno 28] No space left on device"]
    assert flyte.remote.Run.get("rfull").phase == "SUCCEEDED"


def _wait(condition, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


def test_static_page_links_logs_beside_it():
    flyte.init()
    with pytest.raises(ValueError):
        flyte.with_runcontext(name="rstatic").run(hostile, "it broke")
    pages = st.db_path().parent / "pages"
    page = (pages / "rstatic.html").read_text()
    assert 'id="action-a0"' in page and "Traceback of your code" in page  # the failure in full
    links = re.findall(r'href="([^"]+\.log)"', page)
    assert links == ["../runs/rstatic/logs/a0-1.log"]  # the run's folder, beside the pages'
    assert (pages / links[0]).read_text() == "it broke\n"


SCHEDULED = """
import flyte

env = flyte.TaskEnvironment(name="uischeduled")


@env.task(triggers=[flyte.Trigger.hourly()])
def tick(trigger_time=None) -> str:
    return "tick"
"""


def test_a_scheduled_run_records_the_trigger_that_started_it(ui, tmp_path):
    from datetime import UTC, datetime

    from flyte._loader import load_file
    from flyte.runtime import schedule
    from flyte.triggers import Cron

    path = tmp_path / "uischeduled_tasks.py"
    path.write_text(SCHEDULED)
    sys.modules.pop("uischeduled_tasks", None)
    module = load_file(path)
    flyte.init()
    flyte.deploy(module.env)
    (row,) = schedule.list_triggers()
    first = schedule.next_fire(Cron("0 * * * *"), datetime.fromtimestamp(row["activated_at"], UTC), None)
    ((_, _, run),) = schedule.fire_due(now=first)
    with st.reader() as conn:
        assert conn.execute("SELECT trigger FROM runs WHERE name=?", (run.name,)).fetchone()[0] == "trigger hourly"
    assert "started by trigger hourly" in get(ui + f"runs/{run.name}")[2]
    plain = flyte.run(module.tick)
    with st.reader() as conn:  # a run started by hand names no trigger
        assert conn.execute("SELECT trigger FROM runs WHERE name=?", (plain.name,)).fetchone()[0] is None


def test_the_page_on_disk_is_private_and_leaves_no_temporary_file(monkeypatch):
    from flyte.runtime import page as run_page

    flyte.init()
    run = flyte.with_runcontext(name="rprivate").run(child, 3)
    folder = st.db_path().parent / "pages"
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["rprivate.html"]
    assert (folder / "rprivate.html").stat().st_mode & 0o777 == 0o600
    assert run.url == (folder / "rprivate.html").as_uri()

    def no_rename(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_page.os, "replace", no_rename)
    with pytest.raises(OSError):
        run_page.write_run_page("rprivate")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["rprivate.html"]  # the old page stays whole
    assert 'data-phase="SUCCEEDED"' in (folder / "rprivate.html").read_text()


def test_times_on_pages_are_local_and_to_the_second():
    from datetime import datetime

    from flyte.ui import templates

    for ts in (1.0, 1_700_000_000.25, 1_764_756_000.999, 4_102_444_800.5):
        assert templates.when(ts) == datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    assert templates.when(None) == templates.when(0) == "-"
