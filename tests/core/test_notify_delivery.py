"""flyte.notify delivered for real when a local run ends: Slack, Teams and Webhook requests to
an HTTP server on 127.0.0.1, Email to an SMTP server (aiosmtpd), each outcome recorded with the
run and shown by ``flyte runs show``; a failing or silent endpoint leaves the run's outcome as
it was; no credential reaches a record, a log or a page."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
from ctrl_c import interrupt_once_started
from flyte import notify
from flyte.cli.main import build_cli
from flyte.models import ActionPhase
from flyte.remote import Run
from flyte.runtime import settings as cfg
from http_endpoint import Endpoint

SLACK_SECRET = "T000/B000/slack-secret-XYZZY"
TEAMS_SECRET = "teams-secret-PLUGH"
TOKEN = "Bearer my-token-FROBOZZ"
SMTP_PASSWORD = "smtp-password-GRUE"
SECRETS = (SLACK_SECRET, TEAMS_SECRET, TOKEN, "my-token-FROBOZZ", SMTP_PASSWORD)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def local_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """flyte.init here changes the process's settings: the next test gets the old ones back."""
    monkeypatch.setattr(cfg, "_current", cfg._current)


env = flyte.TaskEnvironment(name="notified")


@env.task
def add(x: int, y: int) -> int:
    return x + y


@env.task
def explode(x: int) -> int:
    raise ValueError(f"boom {x}")


@env.task(timeout=flyte.Timeout(max_runtime=0.3))
def sleepy() -> int:
    import time

    for _ in range(600):  # short sleeps: the time limit stops the body between two of them
        time.sleep(0.05)
    return 1


def test_slack_teams_and_webhook_are_delivered_with_rendered_bodies_and_headers(endpoint):
    flyte.init(project="proj", domain="dev")
    rules = (
        notify.Slack(
            on_phase=ActionPhase.SUCCEEDED,
            webhook_url=f"{endpoint.url}/ok/slack/{SLACK_SECRET}",
            message="Run {{.Run.Name}} in {{.Run.Project}}/{{.Run.Domain}}: {{.Phase}}",
        ),
        notify.Slack(
            on_phase="succeeded",
            webhook_url=f"{endpoint.url}/ok/blocks",
            blocks=[
                {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Run:*\n{{.Run.Name}}"}]},
                {"type": "divider"},
            ],
        ),
        notify.Teams(
            on_phase=ActionPhase.SUCCEEDED,
            webhook_url=f"{endpoint.url}/ok/teams/{TEAMS_SECRET}",
            title="Done {{.Run.Name}}",
            message="phase {{ .Phase }}",
        ),
        notify.Teams(
            on_phase=ActionPhase.SUCCEEDED,
            webhook_url=f"{endpoint.url}/ok/card",
            card={"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "{{.Run.Name}} {{.Phase}}"}]},
        ),
        notify.Webhook(
            on_phase=ActionPhase.SUCCEEDED,
            url=endpoint.url + "/ok/hook/{{.Run.Name}}",
            method="put",
            headers={"Authorization": TOKEN, "X-Run": "{{.Run.Name}}"},
            body={"event": "task_succeeded", "run": "{{.Run.Name}}", "nested": [{"p": "{{.Phase}}"}], "n": 3},
        ),
    )
    run = flyte.with_runcontext(name="notified-ok", notifications=rules).run(add, 1, 2)
    assert run.outputs() == 3
    by_path = {r["path"].split("/")[2]: r for r in endpoint.requests}
    assert by_path["slack"]["json"] == {"text": "Run notified-ok in proj/dev: SUCCEEDED"}
    assert by_path["slack"]["headers"]["Content-Type"] == "application/json"
    assert by_path["blocks"]["json"]["blocks"] == [
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Run:*\nnotified-ok"}]},
        {"type": "divider"},
    ]
    assert by_path["teams"]["json"]["title"] == "Done notified-ok"
    assert by_path["teams"]["json"]["text"] == "phase SUCCEEDED"
    assert by_path["card"]["json"] == {
        "type": "AdaptiveCard",
        "body": [{"type": "TextBlock", "text": "notified-ok SUCCEEDED"}],
    }
    hook = by_path["hook"]
    assert hook["method"] == "PUT" and hook["path"] == "/ok/hook/notified-ok"
    assert hook["headers"]["Authorization"] == TOKEN and hook["headers"]["X-Run"] == "notified-ok"
    assert hook["json"] == {"event": "task_succeeded", "run": "notified-ok", "nested": [{"p": "SUCCEEDED"}], "n": 3}
    outcomes = Run.get("notified-ok").notifications()
    assert [(o["kind"], o["outcome"], o["phase"]) for o in outcomes] == [
        ("Slack", "delivered", "SUCCEEDED"),
        ("Slack", "delivered", "SUCCEEDED"),
        ("Teams", "delivered", "SUCCEEDED"),
        ("Teams", "delivered", "SUCCEEDED"),
        ("Webhook", "delivered", "SUCCEEDED"),
    ]
    assert outcomes[0]["target"] == f"{endpoint.url}/…" and outcomes[4]["target"] == f"PUT {endpoint.url}/…"


def test_only_the_rules_of_the_phase_the_run_ended_in_fire(endpoint):
    flyte.init()
    rules = (
        notify.Webhook(on_phase=ActionPhase.SUCCEEDED, url=f"{endpoint.url}/ok/on-success"),
        notify.Webhook(on_phase=(ActionPhase.FAILED, ActionPhase.ABORTED), url=f"{endpoint.url}/ok/on-failure"),
        notify.Webhook(on_phase=ActionPhase.TIMED_OUT, url=f"{endpoint.url}/ok/on-timeout"),
    )
    with pytest.raises(ValueError, match="boom 7"):
        flyte.with_runcontext(name="notified-failed", notifications=rules).run(explode, 7)
    assert [r["path"] for r in endpoint.requests] == ["/ok/on-failure"]
    default_body = endpoint.requests[0]["json"]
    assert default_body["run"] == "notified-failed" and default_body["phase"] == "FAILED"
    assert default_body["error"] == "ValueError: boom 7"
    assert default_body["project"] == "default" and default_body["domain"] == "development"
    endpoint.requests.clear()
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.with_runcontext(notifications=rules).run(sleepy)
    assert [r["path"] for r in endpoint.requests] == ["/ok/on-timeout"]
    assert endpoint.requests[0]["json"]["phase"] == "TIMED_OUT"
    endpoint.requests.clear()
    assert flyte.with_runcontext(notifications=rules).run(add, 1, 1).outputs() == 2
    assert [r["path"] for r in endpoint.requests] == ["/ok/on-success"]


def test_a_failing_or_silent_endpoint_leaves_the_run_as_it_was_and_is_recorded(endpoint, caplog):
    flyte.init(notification_timeout=0.5)
    rules = (
        notify.Slack(on_phase=ActionPhase.SUCCEEDED, webhook_url=f"{endpoint.url}/fail/{SLACK_SECRET}"),
        notify.Webhook(
            on_phase=ActionPhase.SUCCEEDED, url=f"{endpoint.url}/silent/hook", headers={"Authorization": TOKEN}
        ),
        notify.Webhook(on_phase=ActionPhase.SUCCEEDED, url="http://127.0.0.1:9/refused"),
        notify.Webhook(on_phase=ActionPhase.SUCCEEDED, url=f"{endpoint.url}/ok/after"),
    )
    with caplog.at_level(logging.WARNING, logger="flyte.notify"):
        run = flyte.with_runcontext(name="notified-broken", notifications=rules).run(add, 2, 3)
    assert run.outputs() == 5
    recorded = Run.get("notified-broken")
    assert recorded.phase == "SUCCEEDED" and recorded.error is None
    outcomes = recorded.notifications()
    assert [o["outcome"] for o in outcomes] == ["failed", "failed", "failed", "delivered"]
    assert outcomes[0]["detail"] == "HTTP 500 Internal Server Error"
    assert outcomes[1]["detail"] == "no answer within 0.5 s"
    assert outcomes[2]["detail"].startswith("could not connect")
    assert "notified-broken: Slack notification to" in caplog.text and "HTTP 500" in caplog.text
    shown = CliRunner().invoke(build_cli(), ["runs", "show", "notified-broken"])
    assert shown.exit_code == 0, shown.output
    assert "notifications:" in shown.output and "no answer within 0.5 s" in shown.output
    assert "Webhook to POST http://127.0.0.1:9/…  on SUCCEEDED  failed" in shown.output


class Mailbox:
    """aiosmtpd's handler: every message the server accepted, with who logged in."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode())


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # aiosmtpd checks its server by connecting: it needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_require_tls=False,  # a loopback test server has no certificate
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def test_email_goes_through_the_configured_smtp_server(smtp_server, monkeypatch):
    import email

    mailbox, port = smtp_server
    monkeypatch.setenv("NOTIFY_SMTP_PASSWORD", SMTP_PASSWORD)
    flyte.init(
        project="proj",
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "username": "flyte",
            "password_env": "NOTIFY_SMTP_PASSWORD",
            "sender": "flyte@example.com",
        },
    )
    rule = notify.Email(
        on_phase=ActionPhase.FAILED,
        recipients=["oncall@example.com"],
        cc=["team-lead@example.com"],
        bcc=["audit@example.com"],
        subject="ALERT: Run {{.Run.Name}} failed",
        body="Run: {{.Run.Name}}\nError: {{.Error}}",
        html_body="<b>Error:</b> {{.Error}}<br>",
    )
    with pytest.raises(ValueError):
        flyte.with_runcontext(name="mailed", notifications=rule).run(explode, 3)
    ((recipients, content),) = mailbox.messages
    assert recipients == ["oncall@example.com", "team-lead@example.com", "audit@example.com"]
    assert mailbox.logins == [(b"flyte", SMTP_PASSWORD.encode())]
    message = email.message_from_bytes(content)
    assert message["Subject"] == "ALERT: Run mailed failed"
    assert message["From"] == "flyte@example.com" and message["Cc"] == "team-lead@example.com"
    assert message["Bcc"] is None  # blind copies are in the envelope only
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode().replace("\r\n", "\n")
        for p in message.walk()
        if not p.is_multipart()
    }
    assert parts["text/plain"].strip() == "Run: mailed\nError: ValueError: boom 3"
    assert parts["text/html"].strip() == "<b>Error:</b> ValueError: boom 3<br>"
    (outcome,) = Run.get("mailed").notifications()
    assert outcome["outcome"] == "delivered" and outcome["target"] == (
        "oncall@example.com, team-lead@example.com, audit@example.com"
    )


def test_email_without_a_server_or_with_a_wrong_password_is_recorded_as_not_delivered(smtp_server):
    mailbox, port = smtp_server
    rule = notify.Email(on_phase=ActionPhase.SUCCEEDED, recipients="oncall@example.com")
    flyte.init()
    flyte.with_runcontext(name="unmailed", notifications=rule).run(add, 1, 1)
    (outcome,) = Run.get("unmailed").notifications()
    assert outcome["outcome"] == "not delivered" and "no SMTP server configured" in outcome["detail"]
    smtp = {"host": "127.0.0.1", "port": port, "username": "flyte", "password": "wrong-password"}
    flyte.init(smtp=smtp, notification_timeout=1)
    assert flyte.with_runcontext(name="refused", notifications=rule).run(add, 1, 1).outputs() == 2
    (outcome,) = Run.get("refused").notifications()
    assert outcome["outcome"] == "failed" and outcome["detail"].startswith(f"SMTP 127.0.0.1:{port}: SMTP")
    assert "wrong-password" not in outcome["detail"]
    assert mailbox.logins and mailbox.messages == []


def test_named_rules_are_recorded_as_not_delivered_locally():
    flyte.init()
    flyte.with_runcontext(name="named", notifications=notify.NamedRule("oncall-alerts")).run(add, 1, 1)
    (outcome,) = Run.get("named").notifications()
    assert (outcome["kind"], outcome["target"], outcome["outcome"]) == ("NamedRule", "oncall-alerts", "not delivered")
    assert "control plane" in outcome["detail"]


def _all_text(root: Path) -> str:
    """Every byte under the state root, as text (the run store's database included)."""
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def test_no_credential_reaches_a_record_a_log_or_a_page(endpoint, smtp_server, flyte_home, caplog, capsys):
    mailbox, port = smtp_server
    flyte.init(
        notification_timeout=0.5,
        smtp={"host": "127.0.0.1", "port": port, "username": "flyte", "password": SMTP_PASSWORD},
    )
    rules = (
        notify.Slack(on_phase=ActionPhase.SUCCEEDED, webhook_url=f"{endpoint.url}/fail/{SLACK_SECRET}"),
        notify.Teams(on_phase=ActionPhase.SUCCEEDED, webhook_url=f"http://127.0.0.1:9/{TEAMS_SECRET}"),
        notify.Webhook(on_phase=ActionPhase.SUCCEEDED, url=f"{endpoint.url}/silent", headers={"Authorization": TOKEN}),
        notify.Email(on_phase=ActionPhase.SUCCEEDED, recipients=["a@example.com"]),
    )
    with caplog.at_level(logging.DEBUG):
        flyte.with_runcontext(name="secretive", notifications=rules).run(add, 1, 2)
    assert len(mailbox.messages) == 1
    shown = CliRunner().invoke(build_cli(), ["runs", "show", "secretive", "-o", "json"]).output
    texts = {
        "log": caplog.text,
        "output": "".join(capsys.readouterr()),
        "runs show": shown,
        "state root": _all_text(flyte_home),
        "repr": repr(rules) + repr(cfg.current()),
    }
    for where, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} in the {where}"
    assert len(json.loads(shown)["notifications"]) == 4


def test_a_run_without_notifications_records_none():
    flyte.init()
    flyte.with_runcontext(name="quiet").run(add, 1, 1)
    assert Run.get("quiet").notifications() == []


ABORTED_SCRIPT = """
import asyncio, sys
from pathlib import Path
import flyte
from flyte.models import ActionPhase

env = flyte.TaskEnvironment(name="interrupted_notify")


@env.task
async def waits(marker: str) -> int:
    Path(marker).write_text("started")
    await asyncio.sleep(600)
    return 1


if __name__ == "__main__":
    flyte.init()
    rules = (
        flyte.notify.Webhook(on_phase=ActionPhase.ABORTED, url=sys.argv[2] + "/ok/aborted"),
        flyte.notify.Webhook(on_phase=ActionPhase.SUCCEEDED, url=sys.argv[2] + "/ok/succeeded"),
    )
    flyte.with_runcontext(name="interrupted-notify", notifications=rules).run(waits, sys.argv[1])
"""


def test_ctrl_c_delivers_the_aborted_notifications(endpoint, tmp_path, flyte_home):
    script = tmp_path / "interrupted_notify.py"
    script.write_text(ABORTED_SCRIPT)
    _, stderr = interrupt_once_started(script, tmp_path / "marker", endpoint.url, flyte_home=flyte_home)
    assert "KeyboardInterrupt" in stderr
    (request,) = endpoint.requests
    assert request["path"] == "/ok/aborted"
    assert request["json"]["phase"] == "ABORTED" and "interrupted" in request["json"]["error"]
    recorded = Run.get("interrupted-notify")
    assert recorded.phase == "ABORTED"
    assert [(o["kind"], o["phase"], o["outcome"]) for o in recorded.notifications()] == [
        ("Webhook", "ABORTED", "delivered")
    ]
