"""flyte.notify's value objects and flyte.models.ActionPhase: the public examples' shapes build,
defaults are the reference SDK's, bad inputs are clear errors, credentials never show, and a
trigger's notifications survive its spec's conversion to data with their secrets hidden."""

from __future__ import annotations

import subprocess
import sys

import pytest

import flyte
from flyte import notify
from flyte.errors import ConfigurationError
from flyte.models import ActionPhase

SLACK = "https://hooks.slack.com/services/T000/B000/XYZZY"


def test_action_phase_values_and_terminal_phases():
    assert [p.value for p in ActionPhase] == [
        "queued",
        "waiting_for_resources",
        "initializing",
        "running",
        "paused",
        "succeeded",
        "failed",
        "aborted",
        "timed_out",
        "recovered",
    ]
    assert ActionPhase.FAILED == "failed" and ActionPhase("timed_out") is ActionPhase.TIMED_OUT
    assert {p for p in ActionPhase if p.is_terminal} == {
        ActionPhase.SUCCEEDED,
        ActionPhase.FAILED,
        ActionPhase.ABORTED,
        ActionPhase.TIMED_OUT,
        ActionPhase.RECOVERED,
    }
    assert ActionPhase.QUEUED.to_protobuf_name() == "ACTION_PHASE_QUEUED"


def test_the_notifications_example_builds_with_the_reference_defaults():
    email = notify.Email(
        on_phase=(ActionPhase.FAILED, ActionPhase.ABORTED),
        recipients=["oncall@example.com"],
        subject="Alert: Run completed with phase {{.Phase}}",
        body="Run: {{.Run.Name}}\nError: {{.Error}}",
    )
    assert email.on_phase == (ActionPhase.FAILED, ActionPhase.ABORTED) and email.recipients == ("oncall@example.com",)
    assert email.cc == () and email.bcc == () and email.html_body is None
    default_email = notify.Email(on_phase=ActionPhase.FAILED, recipients="a@example.com")
    assert default_email.subject == "Run {{.Run.Name}} {{.Phase}}" and "Error: {{.Error}}" in default_email.body
    slack = notify.Slack(on_phase=ActionPhase.FAILED, webhook_url=SLACK)
    assert slack.on_phase == (ActionPhase.FAILED,) and "{{.Phase}}" in slack.message  # the default message
    blocks = notify.Slack(on_phase="succeeded", webhook_url=SLACK, blocks=[{"type": "divider"}])
    assert blocks.message is None and blocks.blocks == ({"type": "divider"},)
    teams = notify.Teams(on_phase=ActionPhase.FAILED, webhook_url="https://outlook.office.com/webhook/X")
    assert teams.title == "Run {{.Run.Name}} {{.Phase}}" and "Phase: {{.Phase}}" in teams.message
    hook = notify.Webhook(
        on_phase=ActionPhase.SUCCEEDED,
        url="https://api.example.com/events",
        headers={"Authorization": "Bearer my-token"},
        body={"event": "task_succeeded", "run": "{{.Run.Name}}"},
    )
    assert hook.method == "POST" and hook.body == {"event": "task_succeeded", "run": "{{.Run.Name}}"}
    assert notify.Webhook(on_phase="failed", url="https://x.example.com").body["phase"] == "{{.Phase}}"
    assert notify.NamedDelivery(on_phase=ActionPhase.FAILED, name="slack-oncall").name == "slack-oncall"
    assert notify.NamedRule("oncall-alerts").name == "oncall-alerts"
    assert isinstance(email, notify.Notification) and not isinstance(notify.NamedRule("x"), notify.Notification)
    # Frozen values: equal when built alike, hashable, immutable.
    assert hook == notify.Webhook(
        on_phase="succeeded",
        url="https://api.example.com/events",
        headers={"Authorization": "Bearer my-token"},
        body={"event": "task_succeeded", "run": "{{.Run.Name}}"},
    )
    assert len({hook, slack, email, teams}) == 4
    with pytest.raises(AttributeError):
        hook.url = "https://other.example.com"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: notify.Email(on_phase="failed", recipients=[]), "Email.recipients: [] is empty"),
        (lambda: notify.Email(on_phase="failed", recipients=["not-an-address"]), "is not an email address"),
        (
            lambda: notify.Email(on_phase="failed", recipients=["a@example.com\nBcc: x@evil.com"]),
            "is not an email address",
        ),
        (
            lambda: notify.Email(on_phase="failed", recipients=["a@example.com"], subject="hi\nBcc: x@evil.com"),
            "Email.subject",
        ),
        (lambda: notify.Slack(on_phase="running", webhook_url=SLACK), "on_phase: 'running' is not a phase a run ends"),
        (lambda: notify.Slack(on_phase="exploded", webhook_url=SLACK), "on_phase: 'exploded' is not a phase"),
        (lambda: notify.Slack(on_phase=(), webhook_url=SLACK), "on_phase: () is empty"),
        (lambda: notify.Slack(on_phase=3, webhook_url=SLACK), "on_phase: expected a flyte.models.ActionPhase"),
        (lambda: notify.Slack(on_phase="failed", webhook_url="hooks.slack.com/x"), "Slack.webhook_url"),
        (lambda: notify.Slack(on_phase="failed", webhook_url=""), "Slack.webhook_url"),
        (lambda: notify.Teams(on_phase="failed", webhook_url="ftp://x.example.com/k"), "Teams.webhook_url"),
        (lambda: notify.Webhook(on_phase="failed", url="https://x.example.com", method="FETCH"), "Webhook.method"),
        (lambda: notify.Webhook(on_phase="failed", url="https://x.example.com", body=["a"]), "Webhook.body"),
        (
            lambda: notify.Webhook(on_phase="failed", url="https://x.example.com", headers={"Bad Name": "v"}),
            "Webhook.headers",
        ),
        (
            lambda: notify.Slack(on_phase="failed", webhook_url=SLACK, message="{{.Run.Nme}} ended"),
            "Slack.message: '{{.Run.Nme}} ended' uses the unknown template variable '{{.Run.Nme}}'",
        ),
        (lambda: notify.Slack(on_phase="failed", webhook_url=SLACK, blocks=["divider"]), "Slack.blocks[0]"),
        (lambda: notify.NamedRule(""), "NamedRule.name"),
        (lambda: notify.NamedDelivery(on_phase="failed", name=""), "NamedDelivery.name"),
        (lambda: flyte.Trigger(name="t", notifications="email me"), "Trigger.notifications"),
        (
            lambda: flyte.Trigger(name="t", notifications=(notify.NamedRule("r"),)),
            "a NamedRule on its own",
        ),
        (lambda: flyte.with_runcontext(notifications=[1]), "notifications item"),
    ],
)
def test_bad_inputs_are_clear_errors(build, message):
    with pytest.raises((ConfigurationError, TypeError)) as caught:
        build()
    assert message in str(caught.value)
    assert "accepted" in str(caught.value) or "expected" in str(caught.value)


def test_accepted_phase_spellings():
    rule = notify.Webhook(on_phase=["FAILED", "timed_out", ActionPhase.FAILED], url="https://x.example.com")
    assert rule.on_phase == (ActionPhase.FAILED, ActionPhase.TIMED_OUT)  # unique, in order
    assert rule.fires_on(ActionPhase.TIMED_OUT) and not rule.fires_on(ActionPhase.SUCCEEDED)


def test_credentials_never_show_in_repr_or_errors():
    slack = notify.Slack(on_phase="failed", webhook_url=SLACK)
    hook = notify.Webhook(
        on_phase="failed", url="https://api.example.com/hook?key=SECRETKEY", headers={"Authorization": "Bearer TOK"}
    )
    shown = repr(slack) + repr(hook) + repr(flyte.Trigger(name="t", notifications=(slack, hook)))
    for secret in ("XYZZY", "T000", "SECRETKEY", "Bearer TOK"):
        assert secret not in shown
    assert "https://hooks.slack.com/…" in shown and "'Authorization': '***'" in shown
    assert notify.describe(hook) == ("Webhook", "POST https://api.example.com/…")
    with pytest.raises(ConfigurationError) as caught:
        notify.Slack(on_phase="failed", webhook_url="ftp://hooks.slack.com/services/XYZZY")
    assert "XYZZY" not in str(caught.value) and "'ftp://hooks.slack.com/…'" in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        notify.Webhook(on_phase="failed", url="https://x.example.com", headers={"Authorization": "Bearer\nTOK"})
    assert "TOK" not in str(caught.value)
    with pytest.raises(TypeError) as caught:
        flyte.init(smtp={"host": "smtp.example.com", "password": 12345678})
    assert "12345678" not in str(caught.value)
    from flyte.runtime.smtp import SmtpSettings

    assert "hunter22" not in repr(SmtpSettings(host="smtp.example.com", password="hunter22"))


def test_a_triggers_notifications_in_its_spec_data_hide_their_secrets():
    from flyte._converter import structure, unstructure

    rules = (
        notify.Slack(on_phase="failed", webhook_url=SLACK, message="{{.Run.Name}} failed"),
        notify.Webhook(on_phase="succeeded", url="https://api.example.com/x", headers={"Authorization": "Bearer T"}),
        notify.Email(on_phase="failed", recipients=["a@example.com"]),
    )
    trigger = flyte.Trigger(name="report", inputs={"days": 1}, notifications=rules)
    data = unstructure(trigger)
    assert "XYZZY" not in str(data) and "Bearer T" not in str(data)
    assert data["notifications"][0] == {
        "kind": "Slack",
        "on_phase": ["failed"],
        "webhook_url": "https://hooks.slack.com/…",
        "message": "{{.Run.Name}} failed",
        "blocks": None,
    }
    back = structure(data, flyte.Trigger)
    assert [type(r) for r in back.notifications] == [notify.Slack, notify.Webhook, notify.Email]
    assert back.notifications[2] == rules[2]  # nothing secret: it comes back whole
    assert back.notifications[1].headers == {"Authorization": "***"}
    named = flyte.Trigger(name="n", notifications=notify.NamedRule("oncall"))
    assert named.notifications == notify.NamedRule("oncall")
    assert structure(unstructure(named), flyte.Trigger) == named


def test_manual_triggers_and_what_only_a_schedule_may_bind():
    manual = flyte.Trigger(name="quick-report", inputs={"region": "us-east"}, description="on demand")
    assert manual.automation is None
    with pytest.raises(ConfigurationError) as caught:
        flyte.Trigger(name="m", inputs={"as_of": flyte.TriggerTime})
    assert "Trigger.inputs['as_of']: flyte.TriggerTime is bound in the manual trigger 'm'" in str(caught.value)
    assert "automation=flyte.Cron" in str(caught.value)
    scheduled = flyte.Trigger(name="nightly", automation=flyte.Cron("0 2 * * *"), inputs={"as_of": flyte.TriggerTime})
    assert scheduled.inputs == {"as_of": flyte.TriggerTime}
    with pytest.raises(TypeError, match="Trigger.automation"):
        flyte.Trigger(name="x", automation=manual)  # a manual trigger has no schedule to take
    daily = flyte.Trigger.daily(notifications=notify.Email(on_phase="failed", recipients="a@example.com"))
    assert daily.notifications[0].recipients == ("a@example.com",)


def test_import_flyte_loads_no_notification_module():
    code = (
        "import sys, flyte; assert 'flyte.notify' not in sys.modules and 'flyte.models' not in sys.modules; "
        "from flyte import notify; from flyte.models import ActionPhase; "
        "assert flyte.notify is notify and notify.Email and ActionPhase.FAILED; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_rendered_manifests_hold_no_notification_secret_and_no_cronjob_for_a_manual_trigger():
    from flyte.render.context import RenderContext
    from flyte.render.render import render_task

    slack = notify.Slack(on_phase="failed", webhook_url=SLACK)
    env = flyte.TaskEnvironment(name="rendered_notify")

    @env.task(
        triggers=(
            flyte.Trigger(name="by-hand", inputs={"x": 1}, notifications=slack),
            flyte.Trigger(name="hourly", automation=flyte.Cron("0 * * * *"), notifications=slack),
        )
    )
    def work(x: int = 0) -> int:
        return x

    objects = render_task(work, RenderContext())
    assert [o["kind"] for o in objects] == ["Job", "CronJob"]
    assert objects[1]["metadata"]["labels"]["flyte.org/trigger"] == "hourly"
    assert "XYZZY" not in str(objects) and "XYZZY" not in str(work.spec.to_dict())


def test_the_config_files_local_smtp_section(tmp_path, monkeypatch):
    from datetime import timedelta

    from flyte.runtime import settings as cfg

    monkeypatch.setattr(cfg, "_current", cfg._current)
    config = tmp_path / "config.yaml"
    config.write_text(
        "local:\n"
        "  smtp: {host: smtp.example.com, starttls: true, username: flyte, password_env: SMTP_PASSWORD}\n"
        "  notification_timeout: 3\n"
    )
    flyte.init_from_config(config)
    smtp = cfg.current().smtp
    assert (smtp.host, smtp.effective_port, smtp.starttls, smtp.password_env) == (
        "smtp.example.com",
        587,
        True,
        "SMTP_PASSWORD",
    )
    assert cfg.current().notification_timeout == timedelta(seconds=3)
    config.write_text("local:\n  smtp: {host: smtp.example.com, pasword: x}\n")
    with pytest.raises(ConfigurationError, match=r"smtp: \['pasword'\] names unknown settings"):
        flyte.init_from_config(config)
    with pytest.raises(ConfigurationError, match="smtp.port: 70000 is out of range"):
        flyte.init(smtp={"host": "smtp.example.com", "port": 70000})
    with pytest.raises(ConfigurationError, match="notification_timeout"):
        flyte.init(notification_timeout=0)
