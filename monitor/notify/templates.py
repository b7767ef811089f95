"""Rendering messages: Jinja2 in a sandbox, one default ``.j2`` file per body flavour.

The defaults live in ``monitor/web/templates/notify/`` beside the status page's templates;
:data:`FLAVOURS` has one row per flavour. Flavours and the receivers that get them
(``ReceiverConfig.format`` overrides):

- ``txt``   plain text: the console, webhooks, most apprise services;
- ``slack`` Markdown written for Slack (``**bold**``, ``•`` lines, ``<`` ``>`` escaped):
            ``slack://`` URLs. Apprise (2.x) converts Markdown to Slack's mrkdwn
            (``*bold*``, ``&amp;``...), so the body is not mrkdwn itself: ``&`` would be
            escaped twice and ``*x*`` would turn into ``_x_``;
- ``md``    Markdown: receivers whose format is ``markdown`` and that are not Slack;
- ``html``  HTML for email. Apprise derives the plain-text part from it, so the HTML uses
            paragraphs and lists (no tables, no ``<code>``, which its converter puts on
            lines of their own) and the text part reads like the ``txt`` flavour.

Every value a template prints is escaped for the flavour it is printed in, by the
environment's ``finalize`` hook, so device data cannot bring formatting of its own: in
``txt`` (and every title) line breaks and control characters become spaces, so a device
name cannot forge a ``[RESOLVED]`` line; in ``md`` and ``slack`` Markdown's specials are
backslash-escaped, ``<`` and ``>`` included (no ``<!channel>``, no ``<@user>``),
``@everyone``/``@here``/``@channel`` lose their power (a zero-width space after the
``@``) and ``://`` is broken so no link is live; ``html`` is autoescaped
(:mod:`monitor.notify.escaping`). The only live links are the devices' console links,
which come from the config, never from device data, and go through the ``url`` filter.
Templates run in a sandbox with bounded resources (:mod:`monitor.sandbox`) and a title
or body longer than :data:`MAX_BODY` characters is cut.

A receiver may replace the title and/or body template (``title_template``,
``body_template``). Custom templates run in Jinja2's sandbox; a custom template that
fails at render time is logged and the default is used, so a typo never loses an alert.
A custom template that does not even parse is a config error at start-up.

What templates see (all plain data): ``reason`` (first/repeat/resolved/escalated),
``headline``
(one line saying what changed), ``status``,
``receiver``, ``group_labels``, ``firing``/``resolved`` (alerts), ``devices`` /
``resolved_devices`` (the first ``max_devices`` devices, each with its ``items``, and
``link``: the device's page in its MDM console when the source has a console, else
empty; ``link_exact`` is False when the link opens the console, the vendor documenting
no device page; print it with the ``url`` filter),
``devices_more``/``resolved_devices_more``, counts (``firing_count``, ``new_count``,
``resolved_count``, ``device_count``, ``resolved_device_count``), ``rules``,
``sources``, ``source_text``, ``severity``, ``now``, ``oldest_age`` (the longest any
listed alert has been firing, ``3d 4h``). Each alert also has ``age`` (text) and
``age_seconds`` (0 when it never fired).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jinja2
import structlog
from jinja2 import DictLoader, StrictUndefined, select_autoescape

from monitor.clock import format_age
from monitor.config import ReceiverConfig
from monitor.errors import ConfigError
from monitor.models import Alert, NotifyReason, Severity, SubjectKind, projected
from monitor.notify.escaping import FINALIZERS, code, link_target, mrkdwn
from monitor.notify.grouping import GroupDecision
from monitor.notify.routing import alert_age
from monitor.sandbox import BoundedSandbox, join_bounded
from monitor.sources.links import ConsoleLinks
from monitor.store.base import BodyFormat, MessageDraft
from monitor.store.codec import ts

log = structlog.get_logger(__name__)

Flavour = Literal["txt", "slack", "md", "html"]

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
    #: For an owner notice: the owner's address, masked (previews only).
    to: str = ""
    #: The highest severity among the firing alerts it announces ("" for none).
    severity: str = ""

    def draft(self, now: datetime) -> MessageDraft:
        """This message as the outbox queues it, created at ``now``."""
        return MessageDraft(**projected(MessageDraft, self, created_at=now))

    @classmethod
    def of(cls, draft: MessageDraft, *, to: str = "") -> RenderedMessage:
        """A queued draft as a preview shows it (``to``: the masked owner address)."""
        return cls(**projected(cls, draft, to=to))


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


def age_text(age: timedelta) -> str:
    """``3d 4h``, ``5h 10m``, ``12m``: an age as the rest of the product writes one."""
    return format_age(age.total_seconds())


def _alert_view(alert: Alert, new: bool, now: datetime) -> dict[str, Any]:
    f = alert.finding
    age = alert_age(alert, now) or timedelta(0)
    return {
        "fingerprint": alert.fingerprint,
        **f.display_fields(),
        "description": f.description,
        "item": _item_text(alert),
        "labels": dict(f.labels),
        "state": alert.state.value,
        "active_since": ts(alert.active_since),
        "firing_since": ts(alert.firing_since) if alert.firing_since else "",
        "resolved_at": ts(alert.resolved_at) if alert.resolved_at else "",
        "age": age_text(age),
        "age_seconds": int(age.total_seconds()),
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


def _headline(
    reason: NotifyReason, firing: int, new: int, resolved: int, oldest: str = ""
) -> str:
    """One line saying what changed: the first line of every default body."""
    if reason is NotifyReason.ESCALATED:
        line = f"Escalated: {_plural(new, 'alert')} still firing"
        return f"{line}, the oldest for {oldest}" if oldest else line
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
    firing_views = [_alert_view(a, a.fingerprint in new, now) for a in firing]
    resolved_views = [_alert_view(a, False, now) for a in resolved]
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
    oldest = max((v["age_seconds"] for v in firing_views), default=0)
    oldest_age = age_text(timedelta(seconds=oldest)) if oldest else ""
    return {
        "headline": _headline(
            reason, len(firing_views), new_count, resolved_count, oldest_age
        ),
        "oldest_age": oldest_age,
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

#: The default templates: ``*.j2`` files beside the status page's templates.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "web" / "templates" / "notify"


@dataclass(frozen=True, slots=True)
class FlavourSpec:
    """One body flavour: its template file and the body format apprise is told."""

    template: str
    body_format: BodyFormat


#: One row per flavour (see the module docstring for who gets which).
FLAVOURS: Mapping[Flavour, FlavourSpec] = {
    "txt": FlavourSpec("body.txt.j2", "text"),
    "slack": FlavourSpec("body.slack.j2", "markdown"),
    "md": FlavourSpec("body.md.j2", "markdown"),
    "html": FlavourSpec("body.html.j2", "html"),
}
TITLE_TEMPLATE = "title.txt.j2"


def _default_templates() -> dict[str, str]:
    names = (TITLE_TEMPLATE, *(spec.template for spec in FLAVOURS.values()))
    return {f"default/{n}": (TEMPLATE_DIR / n).read_text(encoding="utf-8") for n in names}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


MAX_BODY = 200_000
"""The longest title or body a template may produce, in characters; the rest is cut."""


class Templates:
    """Default and per-receiver templates, compiled once.

    ``receivers`` are checked up front: a custom template with a syntax error raises
    :class:`~monitor.errors.ConfigError` naming the receiver's key. Each flavour has its
    own sandbox, whose ``finalize`` escapes every printed value for that flavour.
    """

    def __init__(
        self, receivers: Sequence[ReceiverConfig] = (), *, links: ConsoleLinks | None = None
    ) -> None:
        self._links = links or ConsoleLinks()
        sources = _default_templates()
        for r in receivers:
            if r.title_template is not None:
                sources[f"receiver/{r.name}/{TITLE_TEMPLATE}"] = r.title_template
            if r.body_template is not None:
                body = FLAVOURS[receiver_flavour(r)].template
                sources[f"receiver/{r.name}/{body}"] = r.body_template
        loader = DictLoader(sources)
        self._envs: dict[str, BoundedSandbox] = {}
        for flavour, finalize in FINALIZERS.items():
            env = BoundedSandbox(
                loader=loader,
                autoescape=select_autoescape(
                    enabled_extensions=("html", "html.j2"), default_for_string=False,
                    default=False,
                ),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                finalize=finalize,
            )
            env.globals["plural"] = _plural
            env.filters["mrkdwn"] = mrkdwn
            env.filters["code"] = code
            env.filters["url"] = link_target
            self._envs[flavour] = env
        self._flavour_of = {TITLE_TEMPLATE: "txt"} | {
            spec.template: flavour for flavour, spec in FLAVOURS.items()
        }
        self._overrides = frozenset(n for n in sources if n.startswith("receiver/"))
        for index, r in enumerate(receivers):
            for key, name in (
                ("title_template", f"receiver/{r.name}/{TITLE_TEMPLATE}"),
                ("body_template", f"receiver/{r.name}/{FLAVOURS[receiver_flavour(r)].template}"),
            ):
                if name not in self._overrides:
                    continue
                try:
                    self._env_for(name).get_template(name)
                except jinja2.TemplateSyntaxError as exc:
                    raise ConfigError(
                        "config", f"receivers.{index}.{key}",
                        f"template error on line {exc.lineno}: {exc.message}",
                    ) from None

    def _env_for(self, name: str) -> BoundedSandbox:
        return self._envs[self._flavour_of[name.rsplit("/", 1)[-1]]]

    def render(
        self, receiver: ReceiverConfig, context: Mapping[str, Any]
    ) -> tuple[str, str, BodyFormat]:
        """Title, body and body format of a message for ``receiver``."""
        spec = FLAVOURS[receiver_flavour(receiver)]
        context = self._with_links(context)
        title = self._render(receiver, TITLE_TEMPLATE, context)
        body = self._render(receiver, spec.template, context)
        return " ".join(title.split()), _tidy(body), spec.body_format

    def _with_links(self, context: Mapping[str, Any]) -> Mapping[str, Any]:
        """``context`` with each listed device's ``link`` (its console page, or "") and
        ``link_exact`` (False: the link opens the console the device is to be found in)."""
        out = dict(context)
        for key in ("devices", "resolved_devices"):
            devices = []
            for device in context.get(key) or ():
                link = self._links.link(device.get("source", ""), device.get("id", ""))
                devices.append({"link": link.url if link else "",
                                "link_exact": link.exact if link else False, **device})
            out[key] = devices
        return out

    def _render(self, receiver: ReceiverConfig, name: str, context: Mapping[str, Any]) -> str:
        custom = f"receiver/{receiver.name}/{name}"
        env = self._env_for(name)
        if custom in self._overrides:
            try:
                return join_bounded(env.get_template(custom).generate(context), MAX_BODY)
            except jinja2.TemplateError as exc:
                log.warning(
                    "notify.template_failed", receiver=receiver.name, template=name,
                    error=f"{exc.__class__.__name__}: {exc}",
                )
        return join_bounded(env.get_template(f"default/{name}").generate(context), MAX_BODY)


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
