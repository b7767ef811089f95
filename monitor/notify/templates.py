"""Rendering messages: Jinja2 in a sandbox, one default per body flavour.

Flavours and the receivers that get them (``ReceiverConfig.format`` overrides):

- ``txt``   plain text: the console, webhooks, most apprise services;
- ``slack`` Markdown written for Slack (``**bold**``, ``•`` lines, ``<`` ``>`` escaped):
            ``slack://`` URLs. Apprise (2.x) converts Markdown to Slack's mrkdwn
            (``*bold*``, ``&amp;``...), so the body is not mrkdwn itself: ``&`` would be
            escaped twice and ``*x*`` would turn into ``_x_``;
- ``md``    Markdown: receivers whose format is ``markdown`` and that are not Slack;
- ``html``  HTML for email. Apprise derives the plain-text part from it, so the HTML uses
            paragraphs and lists (no tables, no ``<code>``, which its converter puts on
            lines of their own) and the text part reads like the ``txt`` flavour.

A receiver may replace the title and/or body template (``title_template``,
``body_template``). Custom templates run in Jinja2's sandbox; a custom template that
fails at render time is logged and the default is used, so a typo never loses an alert.
A custom template that does not even parse is a config error at start-up.

What templates see (all plain data): ``reason`` (first/repeat/resolved), ``headline``
(one line saying what changed), ``status``,
``receiver``, ``group_labels``, ``firing``/``resolved`` (alerts), ``devices`` /
``resolved_devices`` (the first ``max_devices`` devices, each with its ``items``),
``devices_more``/``resolved_devices_more``, counts (``firing_count``, ``new_count``,
``resolved_count``, ``device_count``, ``resolved_device_count``), ``rules``,
``sources``, ``source_text``, ``severity``, ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jinja2
import structlog
from jinja2 import DictLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from monitor.config import ReceiverConfig
from monitor.errors import ConfigError
from monitor.models import Alert, NotifyReason, Severity, SubjectKind
from monitor.notify.grouping import GroupDecision
from monitor.store.base import BodyFormat
from monitor.store.codec import ts

log = structlog.get_logger(__name__)

Flavour = Literal["txt", "slack", "md", "html"]

_FLAVOUR_FORMAT: Mapping[Flavour, BodyFormat] = {
    "txt": "text",
    "slack": "markdown",
    "md": "markdown",
    "html": "html",
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message ready to queue or send."""

    receiver: str
    reason: NotifyReason
    title: str
    body: str
    body_format: BodyFormat
    group_key: str = ""
    firing: int = 0
    resolved: int = 0


def url_schemes(receiver: ReceiverConfig) -> list[str]:
    """The schemes of a receiver's URLs (``slack``, ``mailto``...); never the rest."""
    schemes = []
    for url in receiver.urls:
        raw = url.get_secret_value()
        schemes.append(raw.split("://", 1)[0].lower() if "://" in raw else "")
    return schemes


def receiver_flavour(receiver: ReceiverConfig) -> Flavour:
    """Which default template a receiver gets."""
    schemes = url_schemes(receiver)
    slack = any(s == "slack" for s in schemes)
    if receiver.format == "text":
        return "txt"
    if receiver.format == "html":
        return "html"
    if receiver.format == "markdown":
        return "slack" if slack else "md"
    if schemes and all(s in ("mailto", "mailtos") for s in schemes):
        return "html"
    if slack:
        return "slack"
    return "txt"


# --------------------------------------------------------------------- context


def _item_text(alert: Alert) -> str:
    f = alert.finding
    if f.subject_kind in (SubjectKind.DEVICE, SubjectKind.SOURCE):
        return f.summary
    return f"{f.subject_name} ({f.subject_status})" if f.subject_status else f.subject_name


def _alert_view(alert: Alert, new: bool) -> dict[str, Any]:
    f = alert.finding
    return {
        "fingerprint": alert.fingerprint,
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "summary": f.summary,
        "description": f.description,
        "source": f.source,
        "source_kind": f.source_kind.value,
        "device_id": f.device_id,
        "device_name": f.device_name,
        "device_serial": f.device_serial,
        "subject_kind": f.subject_kind.value,
        "subject_id": f.subject_id,
        "subject_name": f.subject_name,
        "subject_status": f.subject_status,
        "item": _item_text(alert),
        "labels": dict(f.labels),
        "state": alert.state.value,
        "active_since": ts(alert.active_since),
        "firing_since": ts(alert.firing_since) if alert.firing_since else "",
        "resolved_at": ts(alert.resolved_at) if alert.resolved_at else "",
        "new": new,
    }


def _devices(alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    devices: dict[tuple[str, str], dict[str, Any]] = {}
    for a in alerts:
        key = (a["source"], a["device_id"])
        device = devices.get(key)
        if device is None:
            device = devices[key] = {
                "id": a["device_id"],
                "name": a["device_name"],
                "serial": a["device_serial"],
                "source": a["source"],
                "source_kind": a["source_kind"],
                "items": [],
                "new": False,
            }
        device["items"].append(a)
        device["new"] = device["new"] or a["new"]
    return list(devices.values())


def _severity(alerts: Iterable[Alert]) -> str:
    worst = max((a.severity for a in alerts), key=lambda s: s.rank, default=Severity.INFO)
    return worst.value


def _headline(reason: NotifyReason, firing: int, new: int, resolved: int) -> str:
    """One line saying what changed: the first line of every default body."""
    if reason is NotifyReason.REPEAT:
        return f"Reminder: {_plural(firing, 'alert')} still firing"
    if reason is NotifyReason.RESOLVED:
        line = f"{_plural(resolved, 'alert')} resolved"
        return f"{line}, {firing} still firing" if firing else line
    line = f"{_plural(new, 'new alert')}"
    if firing > new:
        line += f", {firing} firing in all"
    return f"{line}, {resolved} resolved" if resolved else line


def build_context(
    receiver: ReceiverConfig,
    reason: NotifyReason,
    *,
    firing: Sequence[Alert],
    resolved: Sequence[Alert],
    new: frozenset[str],
    now: datetime,
    group_labels: Mapping[str, str] | None = None,
    resolved_gone: int = 0,
) -> dict[str, Any]:
    """The plain-data context every template sees (see the module docstring)."""
    firing_views = [_alert_view(a, a.fingerprint in new) for a in firing]
    resolved_views = [_alert_view(a, False) for a in resolved]
    devices = _devices(firing_views)
    resolved_devices = _devices(resolved_views)
    limit = receiver.max_devices
    rules: dict[str, dict[str, str]] = {}
    sources: dict[str, dict[str, str]] = {}
    descriptions: dict[str, set[str]] = {}
    for a in (*firing, *resolved):
        f = a.finding
        rules.setdefault(f.rule_id, {"id": f.rule_id, "severity": f.severity.value})
        descriptions.setdefault(f.rule_id, set()).add(f.description)
        sources.setdefault(f.source, {"name": f.source, "kind": f.source_kind.value})
    for rule_id, texts in descriptions.items():
        # A description rendered for one subject would mislead as the header of a group
        # of many: the group shows it only when every alert in it shares it.
        rules[rule_id]["description"] = next(iter(texts)) if len(texts) == 1 else ""
    source_list = list(sources.values())
    new_count = sum(1 for v in firing_views if v["new"])
    resolved_count = len(resolved_views) + resolved_gone
    return {
        "headline": _headline(reason, len(firing_views), new_count, resolved_count),
        "reason": reason.value,
        "status": "firing" if firing else "resolved",
        "receiver": receiver.name,
        "group_labels": dict(group_labels or {}),
        "now": ts(now),
        "firing": firing_views,
        "resolved": resolved_views,
        "devices": devices[:limit],
        "devices_more": max(0, len(devices) - limit),
        "resolved_devices": resolved_devices[:limit],
        "resolved_devices_more": max(0, len(resolved_devices) - limit),
        "firing_count": len(firing_views),
        "new_count": new_count,
        "resolved_count": resolved_count,
        "resolved_gone": resolved_gone,
        "device_count": len(devices),
        "resolved_device_count": len(resolved_devices),
        "rules": list(rules.values()),
        "sources": source_list,
        "source_text": ", ".join(f"{s['kind']} \"{s['name']}\"" for s in source_list),
        "severity": _severity(firing or resolved),
    }


def decision_context(
    decision: GroupDecision, receiver: ReceiverConfig, now: datetime
) -> dict[str, Any]:
    """:func:`build_context` for a group decision that has a reason."""
    assert decision.reason is not None
    return build_context(
        receiver,
        decision.reason,
        firing=decision.firing,
        resolved=decision.resolved,
        new=decision.new,
        now=now,
        group_labels=decision.group.labels,
        resolved_gone=decision.resolved_gone,
    )


# --------------------------------------------------------------------- defaults

_TITLE = """\
{%- if reason == "resolved" %}[RESOLVED:{{ resolved_count }}]
{%- elif reason == "repeat" %}[STILL FIRING:{{ firing_count }}]
{%- else %}[FIRING:{{ firing_count }}]{% endif %}
{%- if rules|length == 1 %} {{ rules[0].id }}\
{% else %} {{ plural(rules|length, "rule") }}{% endif %}
{%- if reason == "resolved" %} on {{ plural(resolved_device_count, "device") }}
{%- if firing_count %}, {{ firing_count }} still firing{% endif %}
{%- else %} on {{ plural(device_count, "device") }}
{%- if resolved_count %}, {{ resolved_count }} resolved{% endif %}{% endif %}
 ({{ source_text }})"""

_TEXT = """\
{{ headline }} ({{ source_text }}).
{% for rule in rules %}
Rule {{ rule.id }} ({{ rule.severity }}){{ ": " ~ rule.description if rule.description }}
{% endfor %}

{% if devices %}
Firing on {{ plural(device_count, "device") }} ({{ plural(firing_count, "alert") }}):
{% for d in devices %}
- {{ d.name }} (serial {{ d.serial or "unknown" }})\
{% if d.new and reason != "first" %} [new]{% endif %}: \
{% for a in d["items"] %}{{ a.item }}{{ "" if loop.last else "; " }}{% endfor %}

{% endfor %}
{% if devices_more %}
...and {{ plural(devices_more, "more device") }}
{% endif %}
{% endif %}

{% if resolved_devices or resolved_gone %}
Resolved on {{ plural(resolved_device_count, "device") }} ({{ plural(resolved_count, "alert") }}):
{% for d in resolved_devices %}
- {{ d.name }} (serial {{ d.serial or "unknown" }}): \
{% for a in d["items"] %}{{ a.subject_name }}{{ "" if loop.last else "; " }}{% endfor %}

{% endfor %}
{% if resolved_devices_more %}
...and {{ plural(resolved_devices_more, "more device") }}
{% endif %}
{% endif %}"""

_MARKDOWN = """\
**{{ headline }}** ({{ source_text }}).
{% for rule in rules %}
- Rule `{{ rule.id }}` ({{ rule.severity }})\
{{ ": " ~ rule.description if rule.description }}
{% endfor %}
{% if devices %}

**Firing on {{ plural(device_count, "device") }}** ({{ plural(firing_count, "alert") }}):

{% for d in devices %}
- **{{ d.name }}** (serial `{{ d.serial or "unknown" }}`)\
{% if d.new and reason != "first" %} *new*{% endif %}: \
{% for a in d["items"] %}{{ a.item }}{{ "" if loop.last else "; " }}{% endfor %}

{% endfor %}
{% if devices_more %}
- *...and {{ plural(devices_more, "more device") }}*
{% endif %}
{% endif %}
{% if resolved_devices or resolved_gone %}

**Resolved on {{ plural(resolved_device_count, "device") }}** \
({{ plural(resolved_count, "alert") }}):

{% for d in resolved_devices %}
- **{{ d.name }}** (serial `{{ d.serial or "unknown" }}`): \
{% for a in d["items"] %}{{ a.subject_name }}{{ "" if loop.last else "; " }}{% endfor %}

{% endfor %}
{% if resolved_devices_more %}
- *...and {{ plural(resolved_devices_more, "more device") }}*
{% endif %}
{% endif %}"""

_SLACK = """\
**{{ headline|mrkdwn }}** ({{ source_text|mrkdwn }})
{% for rule in rules %}
Rule `{{ rule.id|code }}` ({{ rule.severity }})\
{{ (": " ~ rule.description)|mrkdwn if rule.description }}
{% endfor %}
{% if devices %}

**Firing on {{ plural(device_count, "device") }}** ({{ plural(firing_count, "alert") }}):
{% for d in devices %}
\u2022 **{{ d.name|mrkdwn }}** (serial `{{ (d.serial or "unknown")|code }}`)\
{% if d.new and reason != "first" %} _new_{% endif %}: \
{% for a in d["items"] %}{{ a.item|mrkdwn }}{{ "" if loop.last else "; " }}{% endfor %}

{% endfor %}
{% if devices_more %}
_...and {{ plural(devices_more, "more device") }}_
{% endif %}
{% endif %}
{% if resolved_devices or resolved_gone %}

**Resolved on {{ plural(resolved_device_count, "device") }}** \
({{ plural(resolved_count, "alert") }}):
{% for d in resolved_devices %}
\u2022 **{{ d.name|mrkdwn }}** (serial `{{ (d.serial or "unknown")|code }}`): \
{% for a in d["items"] %}{{ a.subject_name|mrkdwn }}{{ "" if loop.last else "; " }}{% endfor %}

{% endfor %}
{% if resolved_devices_more %}
_...and {{ plural(resolved_devices_more, "more device") }}_
{% endif %}
{% endif %}"""

_HTML = """\
<html><body style="font-family: sans-serif">
<p><strong>{{ headline }}</strong> ({{ source_text }}).</p>
<ul>
{% for rule in rules %}
<li>Rule <span style="font-family: monospace">{{ rule.id }}</span> ({{ rule.severity }})\
{% if rule.description %}: {{ rule.description }}{% endif %}</li>
{% endfor %}
</ul>
{% if devices %}
<h3>Firing on {{ plural(device_count, "device") }} ({{ plural(firing_count, "alert") }})</h3>
<ul>
{% for d in devices %}
<li><strong>{{ d.name }}</strong> \
(serial <span style="font-family: monospace">{{ d.serial or "unknown" }}</span>)\
{% if d.new and reason != "first" %} <em>(new)</em>{% endif %}: \
{% for a in d["items"] %}{{ a.item }}{{ "" if loop.last else "; " }}{% endfor %}</li>
{% endfor %}
</ul>
{% if devices_more %}
<p><em>...and {{ plural(devices_more, "more device") }}</em></p>
{% endif %}
{% endif %}
{% if resolved_devices or resolved_gone %}
<h3>Resolved on {{ plural(resolved_device_count, "device") }} \
({{ plural(resolved_count, "alert") }})</h3>
<ul>
{% for d in resolved_devices %}
<li><strong>{{ d.name }}</strong> \
(serial <span style="font-family: monospace">{{ d.serial or "unknown" }}</span>): \
{% for a in d["items"] %}{{ a.subject_name }}{{ "" if loop.last else "; " }}{% endfor %}</li>
{% endfor %}
</ul>
{% if resolved_devices_more %}
<p><em>...and {{ plural(resolved_devices_more, "more device") }}</em></p>
{% endif %}
{% endif %}
</body></html>"""

DEFAULT_TEMPLATES: Mapping[str, str] = {
    "default/title.txt": _TITLE,
    "default/body.txt": _TEXT,
    "default/body.md": _MARKDOWN,
    "default/body.slack": _SLACK,
    "default/body.html": _HTML,
}

_BODY_NAME: Mapping[Flavour, str] = {
    "txt": "body.txt",
    "slack": "body.slack",
    "md": "body.md",
    "html": "body.html",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _mrkdwn(value: object) -> str:
    """Text for a Slack body: ``<`` and ``>`` escaped the Markdown way.

    Apprise turns a Markdown body into Slack mrkdwn and escapes ``&`` itself, but passes
    ``<...>`` through as is, where Slack reads it as a link or a mention (a device named
    ``<!channel>`` would page the whole channel). Escaped, Slack shows them as text.
    """
    return str(value).replace("<", "\\<").replace(">", "\\>")


def _code(value: object) -> str:
    """Text inside a Markdown code span: apprise escapes it; a backtick would end it."""
    return str(value).replace("`", "'")


class Templates:
    """Default and per-receiver templates, compiled once.

    ``receivers`` are checked up front: a custom template with a syntax error raises
    :class:`~monitor.errors.ConfigError` naming the receiver's key.
    """

    def __init__(self, receivers: Sequence[ReceiverConfig] = ()) -> None:
        sources = dict(DEFAULT_TEMPLATES)
        for r in receivers:
            if r.title_template is not None:
                sources[f"receiver/{r.name}/title.txt"] = r.title_template
            if r.body_template is not None:
                sources[f"receiver/{r.name}/{_BODY_NAME[receiver_flavour(r)]}"] = r.body_template
        self._env = SandboxedEnvironment(
            loader=DictLoader(sources),
            autoescape=select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals["plural"] = _plural
        self._env.filters["mrkdwn"] = _mrkdwn
        self._env.filters["code"] = _code
        self._overrides = frozenset(n for n in sources if n.startswith("receiver/"))
        for index, r in enumerate(receivers):
            for key, name in (
                ("title_template", f"receiver/{r.name}/title.txt"),
                ("body_template", f"receiver/{r.name}/{_BODY_NAME[receiver_flavour(r)]}"),
            ):
                if name not in self._overrides:
                    continue
                try:
                    self._env.get_template(name)
                except jinja2.TemplateSyntaxError as exc:
                    raise ConfigError(
                        "config", f"receivers.{index}.{key}",
                        f"template error on line {exc.lineno}: {exc.message}",
                    ) from None

    def render(
        self, receiver: ReceiverConfig, context: Mapping[str, Any]
    ) -> tuple[str, str, BodyFormat]:
        """Title, body and body format of a message for ``receiver``."""
        flavour = receiver_flavour(receiver)
        title = self._render(receiver, "title.txt", context)
        body = self._render(receiver, _BODY_NAME[flavour], context)
        return " ".join(title.split()), _tidy(body), _FLAVOUR_FORMAT[flavour]

    def _render(self, receiver: ReceiverConfig, name: str, context: Mapping[str, Any]) -> str:
        custom = f"receiver/{receiver.name}/{name}"
        if custom in self._overrides:
            try:
                return str(self._env.get_template(custom).render(context))
            except jinja2.TemplateError as exc:
                log.warning(
                    "notify.template_failed", receiver=receiver.name, template=name,
                    error=f"{exc.__class__.__name__}: {exc}",
                )
        return str(self._env.get_template(f"default/{name}").render(context))


def _tidy(text: str) -> str:
    """Collapse runs of blank lines the template logic leaves behind."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.rstrip()
        if not stripped and (not lines or not lines[-1]):
            continue
        lines.append(stripped)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)
