"""``flyte.notify``: tell people or systems when a run ends in a given phase.

A notification is a rule (the phases it fires on) and a delivery (an email, a Slack or Teams
message, an HTTP request). Give them to a trigger (``flyte.Trigger(..., notifications=...)``)
or to one run (``flyte.with_runcontext(notifications=...)``): one object, or a tuple of them.
Locally, the run's process delivers them when the run ends (:mod:`flyte.runtime.notifications`
says how, and the run store records each outcome; ``flyte runs show`` lists them).

Subjects, bodies, messages, Slack blocks, Teams cards, webhook URLs, header values and bodies
are templates; these variables are replaced (written ``{{.Run.Name}}``, spaces inside the
braces allowed):

- ``{{.Run.Name}}``: the run's name; ``{{.Run.Project}}`` and ``{{.Run.Domain}}``: its scope
- ``{{.Phase}}``: the phase it ended in (``SUCCEEDED``, ``FAILED``, ``ABORTED``, ``TIMED_OUT``)
- ``{{.Error}}``: its error (empty when it succeeded)

Webhook URLs (Slack's and Teams' are credentials) and header values are never shown: ``repr``,
:func:`describe`, logs and run records give the URL's scheme and host only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPMethod
from typing import Any
from urllib.parse import urlsplit

import attrs

from flyte._validation import invalid, no_control_characters, wrong_type
from flyte.frozen import FrozenDict, freeze
from flyte.models import ActionPhase

# The phases a run can end in: the only ones a notification can fire on.
SUPPORTED_PHASES = (ActionPhase.SUCCEEDED, ActionPhase.FAILED, ActionPhase.ABORTED, ActionPhase.TIMED_OUT)
TEMPLATE_VARIABLES = (".Run.Name", ".Run.Project", ".Run.Domain", ".Phase", ".Error")
TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
HTTP_METHODS = tuple(m.value for m in HTTPMethod)  # POST, GET, PUT, PATCH, DELETE, ...
# A plain address (no display name): anything else could smuggle headers or extra recipients.
_ADDRESS = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"'.]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
HIDDEN = "***"


# -- converters ---------------------------------------------------------------------------------
def _phase(param: str, value: Any) -> ActionPhase:
    accepted = ", ".join(f"ActionPhase.{p.name}" for p in SUPPORTED_PHASES) + ' (or their values, e.g. "failed")'
    phase: ActionPhase | None = None
    if isinstance(value, ActionPhase):
        phase = value
    elif isinstance(value, str):
        phase = ActionPhase.__members__.get(value.upper()) or next((p for p in ActionPhase if p.value == value), None)
    else:
        wrong_type(param, value, f"a flyte.models.ActionPhase or a tuple of them ({accepted})")
    if phase is None:
        invalid(param, value, accepted, "is not a phase")
    if phase not in SUPPORTED_PHASES:
        invalid(param, value, accepted, "is not a phase a run ends in")
    return phase


def _on_phase(value: Any) -> tuple[ActionPhase, ...]:
    items = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    phases = tuple(dict.fromkeys(_phase("on_phase", item) for item in items))  # unique, in order
    if not phases:
        invalid("on_phase", value, "at least one phase, e.g. ActionPhase.FAILED", "is empty")
    return phases


def check_template(param: str, text: str) -> str:
    """``text`` unchanged if every ``{{...}}`` in it names a known variable."""
    for match in TEMPLATE.finditer(text):
        if match.group(1) not in TEMPLATE_VARIABLES:
            accepted = ", ".join("{{" + v + "}}" for v in TEMPLATE_VARIABLES)
            invalid(param, text, accepted, f"uses the unknown template variable {match.group(0)!r}")
    return text


def _text(param: str, *, optional: bool = False, one_line: bool = False) -> Any:
    def convert(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            wrong_type(param, value, "a str" + (" or None" if optional else ""))
        if one_line:
            no_control_characters(param, value)  # a header: a newline would start another one
        return check_template(param, value)

    return convert


def _templates_in(param: str, value: Any) -> None:
    """Check every str inside a JSON-like value (Slack blocks, a Teams card, a webhook body)."""
    if isinstance(value, str):
        check_template(param, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                wrong_type(f"{param} key", key, "str keys (the value is sent as JSON)")
            _templates_in(f"{param}[{key!r}]", item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _templates_in(f"{param}[{i}]", item)
    elif value is not None and not isinstance(value, (bool, int, float)):
        wrong_type(param, value, "JSON data: dicts, lists, str, numbers, booleans or None")


def _url(param: str) -> Any:
    accepted = "an http:// or https:// URL with a host, e.g. https://hooks.slack.com/services/..."

    def convert(value: Any) -> str:
        if not isinstance(value, str):
            wrong_type(param, value, accepted)
        # The value is a credential: errors show its scheme and host only.
        shown = shown_url(value)
        if not value or any(c.isspace() for c in value) or any(ord(c) < 32 or ord(c) == 127 for c in value):
            invalid(param, shown, accepted, "is empty or has spaces or control characters")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or TEMPLATE.search(parts.netloc):
            invalid(param, shown, accepted, "is not an http(s) URL with a host")
        check_template(param, value)
        return value

    return convert


def _addresses(param: str, *, required: bool) -> Any:
    accepted = 'email addresses such as "oncall@example.com" (a str or a list of them)'

    def convert(value: Any) -> tuple[str, ...]:
        if value is None and not required:
            return ()
        items = (value,) if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            wrong_type(param, value, accepted)
        for item in items:
            if not isinstance(item, str):
                wrong_type(f"{param} item", item, accepted)
            if not _ADDRESS.fullmatch(item):
                invalid(param, item, accepted, "is not an email address")
        if required and not items:
            invalid(param, value, 'at least one email address such as "oncall@example.com"', "is empty")
        return tuple(items)

    return convert


def _method(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in HTTP_METHODS:
        invalid("Webhook.method", value, ", ".join(HTTP_METHODS), "is not an HTTP method")
    return value.upper()


def _headers(value: Any) -> FrozenDict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        wrong_type("Webhook.headers", value, "a dict of header name to value (str to str)")
    for name, item in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            invalid("Webhook.headers", name, "header names of letters, digits and !#$%&'*+.^_`|~-", "is not a name")
        if not isinstance(item, str):
            wrong_type(f"Webhook.headers[{name!r}]", HIDDEN, "a str")
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in item):
            # The value may be a credential: the error names the header, never shows the value.
            invalid(f"Webhook.headers[{name!r}]", HIDDEN, "a value without control characters", "has one")
        check_template(f"Webhook.headers[{name!r}]", item)
    return FrozenDict(value)


def _json(param: str, *, kind: type | tuple[type, ...] = Mapping, accepted: str = "a dict") -> Any:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, kind) or isinstance(value, str):
            wrong_type(param, value, accepted)
        _templates_in(param, value)
        return freeze(value)

    return convert


def _name(param: str) -> Any:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            wrong_type(param, value, "a non-empty str")
        return no_control_characters(param, value)

    return convert


# -- what is shown of a delivery's target -------------------------------------------------------
def shown_url(url: Any) -> str:
    """``url`` as it may be shown: its scheme and host (and port), the rest elided, since the
    path and query of a webhook URL are often its credential."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<URL>"
    if not parts.scheme or not host:
        return "<URL>"
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _shown_headers(headers: Mapping[str, str] | None) -> str:
    return "None" if headers is None else repr({name: HIDDEN for name in headers})


# -- the value objects --------------------------------------------------------------------------
@attrs.frozen
class NamedRule:
    """A notification rule defined by a Flyte admin, by name (phases and channels included).
    Named rules live on a Flyte control plane: a local run records them as not delivered."""

    name: str = attrs.field(converter=_name("NamedRule.name"))


@attrs.frozen(kw_only=True)
class Notification:
    """Base of every notification: ``on_phase`` is the phase (or tuple of phases) of the run's
    end that fires it: ``SUCCEEDED``, ``FAILED``, ``ABORTED`` or ``TIMED_OUT``."""

    on_phase: tuple[ActionPhase, ...] = attrs.field(converter=_on_phase)

    def fires_on(self, phase: ActionPhase) -> bool:
        """Whether a run that ended in ``phase`` triggers this notification."""
        return phase in self.on_phase


@attrs.frozen(kw_only=True)
class NamedDelivery(Notification):
    """A delivery channel a Flyte admin configured (a shared Slack webhook, an email list), by
    name. Like :class:`NamedRule`, it lives on a control plane: locally it is not delivered."""

    name: str = attrs.field(converter=_name("NamedDelivery.name"))


@attrs.frozen(kw_only=True)
class Email(Notification):
    """An email to ``recipients`` (and ``cc``, ``bcc``). ``html_body``, when given, makes it a
    multipart message with the plain ``body`` as the alternative.

    Locally it is sent over SMTP through the server configured in the ``local.smtp`` section of
    the config file (or ``flyte.init(smtp=...)``); without one it is recorded as not delivered.
    """

    recipients: tuple[str, ...] = attrs.field(converter=_addresses("Email.recipients", required=True))
    cc: tuple[str, ...] = attrs.field(default=(), converter=_addresses("Email.cc", required=False))
    bcc: tuple[str, ...] = attrs.field(default=(), converter=_addresses("Email.bcc", required=False))
    subject: str = attrs.field(default="Run {{.Run.Name}} {{.Phase}}", converter=_text("Email.subject", one_line=True))
    body: str = attrs.field(
        default=(
            "Run: {{.Run.Name}}\nProject/Domain: {{.Run.Project}}/{{.Run.Domain}}\n"
            "Phase: {{.Phase}}\nError: {{.Error}}\n"
        ),
        converter=_text("Email.body"),
    )
    html_body: str | None = attrs.field(default=None, converter=_text("Email.html_body", optional=True))


@attrs.frozen(kw_only=True)
class Slack(Notification):
    """A Slack message through an incoming webhook: ``message`` as text, or Block Kit
    ``blocks`` (a list of dicts; then ``message`` is ignored). With neither, a default message
    names the run, its phase and its project/domain. ``webhook_url`` is a credential: never shown.
    """

    webhook_url: str = attrs.field(converter=_url("Slack.webhook_url"), repr=shown_url)
    message: str | None = attrs.field(default=None, converter=_text("Slack.message", optional=True))
    blocks: tuple[Any, ...] | None = attrs.field(
        default=None, converter=_json("Slack.blocks", kind=(list, tuple), accepted="a list of Block Kit dicts")
    )

    def __attrs_post_init__(self) -> None:
        for i, block in enumerate(self.blocks or ()):
            if not isinstance(block, Mapping):
                wrong_type(f"Slack.blocks[{i}]", block, "a Block Kit dict such as {'type': 'divider'}")
        if self.message is None and self.blocks is None:
            default = "Run: {{.Run.Name}} finished with phase {{.Phase}}\n | {{.Run.Project}}/{{.Run.Domain}}\n"
            object.__setattr__(self, "message", default)


@attrs.frozen(kw_only=True)
class Teams(Notification):
    """A Microsoft Teams message through an incoming webhook: a card with ``title`` and
    ``message``, or your own ``card`` (a dict, e.g. an Adaptive Card; then both are ignored).
    ``webhook_url`` is a credential: never shown."""

    webhook_url: str = attrs.field(converter=_url("Teams.webhook_url"), repr=shown_url)
    title: str = attrs.field(default="Run {{.Run.Name}} {{.Phase}}", converter=_text("Teams.title"))
    message: str | None = attrs.field(default=None, converter=_text("Teams.message", optional=True))
    card: FrozenDict | None = attrs.field(default=None, converter=_json("Teams.card"))

    def __attrs_post_init__(self) -> None:
        if self.message is None and self.card is None:
            default = (
                "Run: {{.Run.Name}}\nProject/Domain: {{.Run.Project}}/{{.Run.Domain}}\n"
                "Phase: {{.Phase}}\nError: {{.Error}}\n"
            )
            object.__setattr__(self, "message", default)


_body = _json("Webhook.body")
_DEFAULT_BODY = {
    "run": "{{.Run.Name}}",
    "project": "{{.Run.Project}}",
    "domain": "{{.Run.Domain}}",
    "phase": "{{.Phase}}",
    "error": "{{.Error}}",
}


@attrs.frozen(kw_only=True)
class Webhook(Notification):
    """Any HTTP request: ``method`` (POST by default) to ``url`` with ``headers`` and a JSON
    ``body`` (a dict; by default the run's name, project, domain, phase and error). The URL,
    header values and every str in the body are templates. The URL's path and query and the
    header values (an ``Authorization`` token) are never shown."""

    url: str = attrs.field(converter=_url("Webhook.url"), repr=shown_url)
    method: str = attrs.field(default="POST", converter=_method)
    headers: FrozenDict | None = attrs.field(default=None, converter=_headers, repr=_shown_headers)
    body: FrozenDict = attrs.field(default=None, converter=lambda v: _body(_DEFAULT_BODY if v is None else v))


Rules = tuple[Notification | NamedRule, ...]


def to_notifications(param: str, value: Any) -> Rules:
    """The ``notifications=`` forms (one Notification, a NamedRule, or a list or tuple of
    Notifications) as a tuple of rules (``()`` for None)."""
    if value is None:
        return ()
    if isinstance(value, (Notification, NamedRule)):
        return (value,)
    accepted = "a flyte.notify.Email, Slack, Teams, Webhook, NamedDelivery or NamedRule, or a tuple of them"
    if not isinstance(value, (list, tuple)):
        wrong_type(param, value, accepted)
    for item in value:
        if not isinstance(item, Notification):
            if isinstance(item, NamedRule):
                invalid(param, item, "a NamedRule on its own, or Notifications in a tuple", "is in a tuple")
            wrong_type(f"{param} item", item, accepted)
    return tuple(value)


def describe(rule: Notification | NamedRule) -> tuple[str, str]:
    """``(kind, target)`` of a rule as it may be shown: no URL path, query or header value."""
    kind = type(rule).__name__
    if isinstance(rule, (NamedRule, NamedDelivery)):
        return kind, rule.name
    if isinstance(rule, Email):
        return kind, ", ".join((*rule.recipients, *rule.cc, *rule.bcc))
    if isinstance(rule, (Slack, Teams)):
        return kind, shown_url(rule.webhook_url)
    if isinstance(rule, Webhook):
        return kind, f"{rule.method} {shown_url(rule.url)}"
    return kind, ""


_KINDS: dict[str, type] = {}  # filled below: class name -> class, for rules_from_data


def shown_rules(value: Any) -> Any:
    """A trigger's notifications as plain data, credentials hidden (webhook URLs as their
    scheme and host, header values as ``***``): what a spec's ``to_dict``, a deployment record
    and a rendered manifest hold. :func:`rules_from_data` reads it back, without the secrets."""
    from flyte.frozen import thaw

    if value is None:
        return None
    if isinstance(value, NamedRule):
        return {"kind": "NamedRule", "name": value.name}
    shown = []
    for rule in value:
        data: dict[str, Any] = {"kind": type(rule).__name__}
        for field in attrs.fields(type(rule)):
            item = getattr(rule, field.name)
            if field.name in ("webhook_url", "url"):
                item = shown_url(item)
            elif field.name == "headers" and item is not None:
                item = {name: HIDDEN for name in item}
            elif field.name == "on_phase":
                item = [p.value for p in item]
            data[field.name] = thaw(item)
        shown.append(data)
    return shown


def rules_from_data(data: Any, _type: Any = None) -> Any:
    """Notifications from :func:`shown_rules` output (their hidden credentials stay hidden)."""
    if data is None:
        return None
    if isinstance(data, Mapping):
        return NamedRule(data["name"])
    rules = []
    for item in data:
        fields = dict(item)
        kind = _KINDS.get(fields.pop("kind", None))
        if kind is None:
            invalid("notifications kind", item.get("kind"), ", ".join(_KINDS))
        rules.append(kind(**fields))
    return tuple(rules)


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{{.Variable}}`` replaced by its value in ``values``."""
    return TEMPLATE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render_data(value: Any, values: Mapping[str, str]) -> Any:
    """Plain JSON data with every str in it rendered (Slack blocks, a Teams card, a body)."""
    if isinstance(value, str):
        return render(value, values)
    if isinstance(value, Mapping):
        return {k: render_data(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render_data(v, values) for v in value]
    return value


_KINDS.update({cls.__name__: cls for cls in (Email, Slack, Teams, Webhook, NamedDelivery)})

__all__ = ["Email", "NamedDelivery", "NamedRule", "Notification", "Slack", "Teams", "Webhook"]
