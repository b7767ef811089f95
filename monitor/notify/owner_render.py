"""What owner notices say: the owner's message, the escalation to IT, and "your device
is compliant again" (see :mod:`monitor.notify.owners` for who gets them, and when).

HTML e-mail rendered in Jinja2's sandbox with autoescaping: device names, items, logs
and remedies are text, never markup. Owner messages carry no console link (an owner
cannot sign in to the MDM console) and never the owner's address; escalations to IT
show the address masked and link each device to its console page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from monitor.models import Alert, NotifyReason
from monitor.sources.links import ConsoleLinks


def firing_start(alert: Alert) -> datetime:
    """When the alert's current run began to fire (or became active, if it never did)."""
    return alert.firing_since or alert.active_since


def _item_view(alert: Alert, new: bool, now: datetime) -> dict[str, Any]:
    f = alert.finding
    return {
        **f.display_fields(),
        "item": f.subject_name,
        "status": f.subject_status,
        "why": f.description,
        "detail": f.detail,
        "remedy": f.remedy,
        "since": firing_start(alert).strftime("%Y-%m-%d %H:%M UTC"),
        "days": max(0, (now - firing_start(alert)).days),
        "new": new,
        "fixed_at": alert.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if alert.resolved_at else "",
    }


def _devices(
    views: Iterable[dict[str, Any]], links: ConsoleLinks | None = None
) -> list[dict[str, Any]]:
    """Items by device; with ``links``, each device's console link (``link``,
    ``link_exact``), for IT (an owner cannot sign in to the MDM console)."""
    devices: dict[tuple[str, str], dict[str, Any]] = {}
    for v in views:
        key = (v["device_name"], v["device_serial"])
        if key not in devices:
            link = links.link(v["source"], v["device_id"]) if links is not None else None
            devices[key] = {"name": key[0], "serial": key[1], "items": [],
                            "link": link.url if link else "",
                            "link_exact": link.exact if link else False}
        devices[key]["items"].append(v)
    return list(devices.values())


_OWNER_TITLE = """\
{% if reason == "repeat" %}Reminder: {% endif %}\
{{ plural(count, "item") }} on your {{ "device" if device_count == 1 else "devices" }} \
{{ "needs" if count == 1 else "need" }} attention"""

_OWNER_HTML = """\
<html><body style="font-family: sans-serif">
<p>Hello,</p>
<p>{% if reason == "repeat" %}This is a reminder: {% endif %}\
{{ plural(count, "item") }} on {{ "your device" if device_count == 1 else "your devices" }} \
{{ "is" if count == 1 else "are" }} not compliant. Here is what is wrong and what you can do.</p>
{% for d in devices %}
<h3>{{ d.name }}{% if d.serial %} \
<span style="font-weight: normal">(serial {{ d.serial }})</span>{% endif %}</h3>
<ul>
{% for i in d["items"] %}
<li><p><strong>{{ i.item }}</strong>{% if i.status %}: {{ i.status }}{% endif %}\
{% if i.new and new_count < count %} <em>(new)</em>{% endif %} \
(failing since {{ i.since }})</p>
{% if i.why %}<p>Why: {{ i.why }}</p>{% endif %}
{% if i.detail %}<p>Last audit log:</p>\
<pre style="white-space: pre-wrap">{{ i.detail }}</pre>{% endif %}
{% if i.remedy %}<p>What to do: {{ i.remedy }}</p>{% endif %}
</li>
{% endfor %}
</ul>
{% endfor %}
{% if more %}<p><em>...and {{ plural(more, "more item") }}.</em></p>{% endif %}
<p>If you need help, reply to your IT team.</p>
</body></html>"""

_ESCALATION_TITLE = """\
[ESCALATED:{{ count }}] {{ plural(count, "item") }} unresolved by \
{{ owner or "a device with no assigned user" }}"""

_ESCALATION_HTML = """\
<html><body style="font-family: sans-serif">
<p><strong>{{ plural(count, "item") }} still failing \
{% if owner %}after the device's user ({{ owner }}) was told\
{% else %}on a device with no assigned user{% endif %}</strong>.</p>
{% for d in devices %}
<h3>{{ d.name }}{% if d.serial %} (serial {{ d.serial }}){% endif %}\
{% if d.link %} <span style="font-weight: normal">(<a href="{{ d.link }}">\
{{ "device page" if d.link_exact else "console, search by serial" }}</a>)</span>{% endif %}</h3>
<ul>
{% for i in d["items"] %}
<li><strong>{{ i.item }}</strong>{% if i.status %}: {{ i.status }}{% endif %} \
(rule {{ i.rule_id }}, {{ i.severity }}, failing since {{ i.since }}, {{ i.days }} d)\
{% if i.remedy %}<br>What to do: {{ i.remedy }}{% endif %}</li>
{% endfor %}
</ul>
{% endfor %}
{% if more %}<p><em>...and {{ plural(more, "more item") }}.</em></p>{% endif %}
</body></html>"""


_RESOLVED_TITLE = """\
{{ "Your device is" if device_count <= 1 else "Your devices are" }} compliant again"""

_RESOLVED_HTML = """\
<html><body style="font-family: sans-serif">
<p>Hello,</p>
<p>Good news: {{ "the item" if count == 1 else "the " ~ count ~ " items" }} we wrote to you \
about {{ "is" if count == 1 else "are" }} fixed, and nothing on \
{{ "your device" if device_count <= 1 else "your devices" }} needs your attention now.</p>
{% for d in devices %}
<h3>{{ d.name }}{% if d.serial %} \
<span style="font-weight: normal">(serial {{ d.serial }})</span>{% endif %}</h3>
<ul>
{% for i in d["items"] %}
<li><strong>{{ i.item }}</strong>: fixed{% if i.fixed_at %} ({{ i.fixed_at }}){% endif %}</li>
{% endfor %}
</ul>
{% endfor %}
{% if more %}<p><em>...and {{ plural(more, "more item") }}, fixed too.</em></p>{% endif %}
<p>Thank you. There is nothing more to do.</p>
</body></html>"""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


_ENV = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined,
                            trim_blocks=True, lstrip_blocks=True)
_ENV.globals["plural"] = _plural
_TEXT_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_TEXT_ENV.globals["plural"] = _plural
_TEMPLATES: Mapping[str, jinja2.Template] = {
    "owner.title": _TEXT_ENV.from_string(_OWNER_TITLE),
    "owner.html": _ENV.from_string(_OWNER_HTML),
    "escalation.title": _TEXT_ENV.from_string(_ESCALATION_TITLE),
    "escalation.html": _ENV.from_string(_ESCALATION_HTML),
    "resolved.title": _TEXT_ENV.from_string(_RESOLVED_TITLE),
    "resolved.html": _ENV.from_string(_RESOLVED_HTML),
}


def render_owner(
    reason: NotifyReason,
    alerts: Sequence[Alert],
    new: frozenset[str],
    now: datetime,
    *,
    max_items: int,
) -> tuple[str, str]:
    """Title and HTML body of an owner's message (no address in either)."""
    views = [_item_view(a, a.fingerprint in new, now) for a in alerts[:max_items]]
    devices = _devices(views)
    context = {
        "reason": reason.value, "count": len(alerts), "devices": devices,
        "device_count": len({(a.finding.device_name, a.finding.device_serial) for a in alerts}),
        "more": max(0, len(alerts) - max_items),
        "new_count": sum(1 for a in alerts if a.fingerprint in new),
    }
    title = _TEMPLATES["owner.title"].render(context)
    return " ".join(title.split()), _TEMPLATES["owner.html"].render(context)


def render_escalation(
    alerts: Sequence[Alert], address: str, now: datetime, *, max_items: int,
    links: ConsoleLinks | None = None,
) -> tuple[str, str]:
    """Title and HTML body of an escalation to IT (the owner's address masked; each
    device linked to its console page when ``links`` knows its source's console)."""
    views = [_item_view(a, False, now) for a in alerts[:max_items]]
    context = {
        "count": len(alerts), "devices": _devices(views, links),
        "owner": mask_address(address),
        "more": max(0, len(alerts) - max_items),
    }
    title = _TEMPLATES["escalation.title"].render(context)
    return " ".join(title.split()), _TEMPLATES["escalation.html"].render(context)


def render_resolved(fixed: Sequence[Alert], count: int, now: datetime, *, max_items: int
                    ) -> tuple[str, str]:
    """Title and HTML body of "your device is compliant again": ``fixed`` are the
    recovered items still known (their resolved alerts), ``count`` all of them."""
    views = [_item_view(a, False, now) for a in fixed[:max_items]]
    devices = _devices(views)
    context = {
        "count": max(count, 1), "devices": devices,
        "device_count": len({(a.finding.device_name, a.finding.device_serial) for a in fixed}),
        "more": max(0, count - len(views)),
    }
    title = _TEMPLATES["resolved.title"].render(context)
    return " ".join(title.split()), _TEMPLATES["resolved.html"].render(context)


def mask_address(address: str) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com`` (empty stays empty)."""
    local, _, domain = address.strip().partition("@")
    if not local:
        return ""
    return f"{local[0]}***@{domain}" if domain else f"{local[0]}***"


__all__ = ["firing_start", "mask_address", "render_escalation", "render_owner", "render_resolved"]
