"""Deliver a run's ``flyte.notify`` notifications when it ends, and record each outcome.

Called once per run, from the run's end (:func:`deliver_for_run`), only when the run has
notifications. A rule fires when the phase the run ended in is one of its ``on_phase``:
``SUCCEEDED``, ``FAILED`` (``TIMED_OUT`` when a time limit ended it) or ``ABORTED``.

- Slack, Teams and Webhook: one HTTP request each (``urllib.request``), JSON bodies.
- Email: SMTP through ``LocalSettings.smtp`` (``local.smtp`` in the config file); without a
  server configured it is recorded as not delivered, with the reason.
- NamedRule and NamedDelivery name configuration of a Flyte control plane: not delivered.

Each delivery runs on a thread of its own with the settings' ``notification_timeout``; the
run's end waits for them at most that long (plus a second), so a slow or failing endpoint
never fails or holds the run: what did not answer in time is recorded as failed. Outcomes go
to the run store's ``notifications`` table (``flyte runs show`` lists them) and failures to
the ``flyte.notify`` logger. Neither ever holds a webhook URL's path or query, a header value
or the SMTP password (:func:`flyte.notify.describe`; errors are scrubbed of them).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from flyte.models import ActionPhase
from flyte.notify import (
    HIDDEN,
    Email,
    NamedDelivery,
    NamedRule,
    Notification,
    Rules,
    Slack,
    Teams,
    Webhook,
    describe,
    render,
    render_data,
)
from flyte.runtime.redact import redact

logger = logging.getLogger("flyte.notify")

DELIVERED = "delivered"
FAILED = "failed"
NOT_DELIVERED = "not delivered"
# The longest error text kept per delivery.
DETAIL_CHARS = 500


@attrs.frozen
class Delivery:
    """The outcome of one notification for one run."""

    kind: str  # Email, Slack, Teams, Webhook, NamedRule, NamedDelivery
    target: str  # what it went to, as it may be shown (never a credential)
    phase: str
    outcome: str  # DELIVERED, FAILED or NOT_DELIVERED
    detail: str = ""
    at: float = attrs.field(factory=time.time)


def run_phase(error: BaseException | None, interrupted: bool = False) -> ActionPhase:
    """The phase a run ended in: ABORTED when interrupted, SUCCEEDED without an error,
    TIMED_OUT when a time limit's error ended it, FAILED for any other error."""
    from flyte.errors import TaskTimeoutError

    if interrupted:
        return ActionPhase.ABORTED
    if error is None:
        return ActionPhase.SUCCEEDED
    return ActionPhase.TIMED_OUT if isinstance(error, TaskTimeoutError) else ActionPhase.FAILED


def phase_name(phase: ActionPhase) -> str:
    """``{{.Phase}}`` as the run store writes phases: ``FAILED``, ``TIMED_OUT``, ..."""
    return phase.name


def deliver_for_run(
    store: Any, rules: Rules, run: str, settings: Any, error: BaseException | None, interrupted: bool = False
) -> list[Delivery]:
    """Deliver the rules that fire on the end of ``run`` (``error``: what it failed with;
    ``interrupted``: Ctrl-C or a cancellation stopped it, ``error`` then saying which), record
    each outcome with the run and commit them; returns the outcomes."""
    phase = run_phase(error, interrupted)
    if interrupted and (error is None or isinstance(error, KeyboardInterrupt)):
        text = "KeyboardInterrupt: the run was interrupted"
    else:  # a cancelled run (interrupted) says how it was cancelled
        text = "" if error is None else redact(f"{type(error).__name__}: {error}")
    values = {
        ".Run.Name": run,
        ".Run.Project": settings.project,
        ".Run.Domain": settings.domain,
        ".Phase": phase_name(phase),
        ".Error": text,
    }
    deliveries = deliver([r for r in rules if _fires(r, phase)], values, settings)
    for number, delivery in enumerate(deliveries):
        store.record_notification(run, number, **attrs.asdict(delivery))
        if delivery.outcome != DELIVERED:
            logger.warning(
                "run %s: %s notification to %s %s: %s",
                run,
                delivery.kind,
                delivery.target,
                delivery.outcome,
                delivery.detail,
            )
    store.flush()
    return deliveries


def _fires(rule: Notification | NamedRule, phase: ActionPhase) -> bool:
    return isinstance(rule, NamedRule) or rule.fires_on(phase)


def deliver(rules: list[Notification | NamedRule], values: dict[str, str], settings: Any) -> list[Delivery]:
    """Deliver each rule (one thread each), waiting at most the settings' timeout plus a second."""
    timeout = settings.notification_timeout.total_seconds()
    phase = values[".Phase"]
    results: list[Delivery | None] = [None] * len(rules)

    def attempt(i: int, rule: Notification | NamedRule) -> None:
        kind, target = describe(rule)
        try:
            outcome, detail = _send(rule, values, settings, timeout)
        except Exception as exc:  # recorded: a failed delivery never fails the run
            outcome, detail = FAILED, f"{type(exc).__name__}: {exc}"
        results[i] = Delivery(kind, target, phase, outcome, _scrubbed(detail, rule, values, settings)[:DETAIL_CHARS])

    threads = [
        threading.Thread(target=attempt, args=(i, rule), name=f"flyte-notify-{i}", daemon=True)
        for i, rule in enumerate(rules)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    out = []
    for rule, result in zip(rules, results, strict=True):
        if result is None:  # still waiting for the endpoint: it ends on its own socket timeout
            kind, target = describe(rule)
            result = Delivery(kind, target, phase, FAILED, f"no answer within {timeout:g} s")
        out.append(result)
    return out


# -- one delivery -------------------------------------------------------------------------------
def _send(rule: Notification | NamedRule, values: dict[str, str], settings: Any, timeout: float) -> tuple[str, str]:
    """``(outcome, detail)`` of delivering ``rule``."""
    if isinstance(rule, (NamedRule, NamedDelivery)):
        return NOT_DELIVERED, f"{type(rule).__name__} {rule.name!r} is configured on a Flyte control plane, not here"
    if isinstance(rule, Email):
        return _email(rule, values, settings, timeout)
    if isinstance(rule, Slack):
        body = {"blocks": render_data(rule.blocks, values)} if rule.blocks else {}
        if rule.message is not None:
            body["text"] = render(rule.message, values)  # with blocks: the notification's fallback
        return _post(rule.webhook_url, "POST", {}, body, timeout)
    if isinstance(rule, Teams):
        if rule.card is not None:
            body = render_data(rule.card, values)
        else:  # a connector MessageCard: what Teams incoming webhooks accept without a card of your own
            title, text = render(rule.title, values), render(rule.message or "", values)
            body = {
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": title,
                "title": title,
                "text": text,
            }
        return _post(rule.webhook_url, "POST", {}, body, timeout)
    if isinstance(rule, Webhook):
        headers = {k: render(v, values) for k, v in (rule.headers or {}).items()}
        body = render_data(rule.body, values) if rule.method not in ("GET", "HEAD") else None
        return _post(render(rule.url, values), rule.method, headers, body, timeout)
    raise TypeError(f"not a notification: {type(rule).__name__}")


def _post(url: str, method: str, headers: dict[str, str], body: Any, timeout: float) -> tuple[str, str]:
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None and not any(k.lower() == "content-type" for k in headers):
        request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return DELIVERED, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:  # str(exc) names the status only, never the URL
        exc.close()
        return FAILED, f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return FAILED, f"could not connect: {exc.reason}"
    except TimeoutError:
        return FAILED, f"no answer within {timeout:g} s"


def _email(rule: Email, values: dict[str, str], settings: Any, timeout: float) -> tuple[str, str]:
    smtp = settings.smtp
    if smtp is None:
        return NOT_DELIVERED, "no SMTP server configured (set local.smtp.host in the config file)"
    import smtplib
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = render(rule.subject, values)
    message["From"] = smtp.sender or f"flyte@{socket.gethostname()}"
    message["To"] = ", ".join(rule.recipients)
    if rule.cc:
        message["Cc"] = ", ".join(rule.cc)
    message.set_content(render(rule.body, values))
    if rule.html_body is not None:
        message.add_alternative(render(rule.html_body, values), subtype="html")
    password = smtp.password
    if password is None and smtp.password_env:
        password = os.environ.get(smtp.password_env)
        if password is None:
            return FAILED, f"the SMTP password's environment variable {smtp.password_env} is not set"
    connect: Callable[..., Any] = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
    try:
        with connect(smtp.host, smtp.effective_port, timeout=timeout) as server:
            if smtp.starttls:
                server.starttls()
            if smtp.username:
                server.login(smtp.username, password or "")
            refused = server.send_message(message, to_addrs=[*rule.recipients, *rule.cc, *rule.bcc])
    except (OSError, smtplib.SMTPException) as exc:
        return FAILED, f"SMTP {smtp.host}:{smtp.effective_port}: {type(exc).__name__}: {exc}"
    if refused:
        return FAILED, f"the server refused {', '.join(sorted(refused))}"
    return DELIVERED, f"SMTP {smtp.host}:{smtp.effective_port}"


def _scrubbed(text: str, rule: Notification | NamedRule, values: dict[str, str], settings: Any) -> str:
    """``text`` without any credential of ``rule`` or the SMTP settings in it."""
    secrets = [getattr(rule, "webhook_url", None), getattr(rule, "url", None)]
    secrets += [render(v, values) for v in (getattr(rule, "headers", None) or {}).values()]
    if isinstance(rule, Webhook):
        secrets.append(render(rule.url, values))
    if settings.smtp is not None:
        secrets.append(settings.smtp.password)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return redact(text)
