"""Templates: the defaults per flavour, overrides, the sandbox, escaping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import apprise
import pytest
import structlog
from pydantic import SecretStr

from monitor.alerts import step
from monitor.config import ReceiverConfig
from monitor.errors import ConfigError
from monitor.models import Alert, NotifyReason
from monitor.notify.templates import Templates, build_context, receiver_flavour
from monitor.sources.links import ConsoleLinks
from tests.notify.helpers import T0, coverage, finding


def alerts(*devices: str) -> list[Alert]:
    found = [finding(d) for d in devices]
    result = step({}, found, coverage(list(devices)), T0)
    return sorted(result.alerts.values(), key=lambda a: a.finding.device_id)


def context(
    r: ReceiverConfig,
    firing: Sequence[Alert],
    resolved: Sequence[Alert] = (),
    reason: NotifyReason = NotifyReason.FIRST,
) -> dict[str, Any]:
    return build_context(r, reason, firing=firing, resolved=resolved,
                         new=frozenset(a.fingerprint for a in firing), now=T0)


def rc(**kw: Any) -> ReceiverConfig:
    urls = [SecretStr(u) for u in kw.pop("urls", [])]
    return ReceiverConfig(name=kw.pop("name", "ops"), urls=urls,
                          console=kw.pop("console", not urls), **kw)


@pytest.mark.parametrize(
    ("receiver", "flavour", "body_format"),
    [
        (rc(), "txt", "text"),
        (rc(urls=["slack://T/B/C"]), "slack", "markdown"),
        (rc(urls=["mailto://u:p@example.com", "mailtos://u:p@example.com"]), "html", "html"),
        (rc(urls=["json://h/x"]), "txt", "text"),
        (rc(urls=["json://h/x"], format="markdown"), "md", "markdown"),
        (rc(urls=["slack://T/B/C"], format="text"), "txt", "text"),
    ],
)
def test_flavour_follows_urls_unless_format_is_set(
    receiver: ReceiverConfig, flavour: str, body_format: str
) -> None:
    assert receiver_flavour(receiver) == flavour
    assert Templates().render(receiver, context(receiver, alerts("d1")))[2] == body_format


@pytest.mark.parametrize("urls", [[], ["slack://T/B/C"], ["mailto://u:p@example.com"],
                                  ["json://h"]])
def test_default_message_names_rule_items_devices_serials_count_and_source(
    urls: list[str],
) -> None:
    r = rc(urls=urls, format="markdown" if urls == ["json://h"] else None)
    title, body, _ = Templates().render(r, context(r, alerts("d1", "d2")))
    assert title == '[FIRING:2] kandji.library-item.failed on 2 devices (kandji "acme")'
    for expected in ("kandji.library-item.failed", "Item i1", "Mac d1", "C02D1", "Mac d2",
                     "2 devices", "acme", "kandji"):
        assert expected in body


def test_big_groups_list_the_first_devices_and_count_the_rest() -> None:
    r = rc(max_devices=5)
    many = alerts(*(f"d{n:02d}" for n in range(30)))
    _, body, _ = Templates().render(r, context(r, many))
    assert body.count("(serial") == 5
    assert "...and 25 more devices" in body
    assert "30 devices" in body


@pytest.mark.parametrize(
    ("reason", "prefix"),
    [(NotifyReason.FIRST, "[FIRING:1]"), (NotifyReason.REPEAT, "[STILL FIRING:1]")],
)
def test_title_says_why(reason: NotifyReason, prefix: str) -> None:
    r = rc()
    title, _, _ = Templates().render(r, context(r, alerts("d1"), reason=reason))
    assert title.startswith(prefix)


def test_resolved_only_message() -> None:
    r = rc()
    ctx = context(r, [], alerts("d1", "d2"), reason=NotifyReason.RESOLVED)
    title, body, _ = Templates().render(r, ctx)
    assert title.startswith("[RESOLVED:2] kandji.library-item.failed on 2 devices")
    assert "Resolved on 2 devices" in body


def test_html_escapes_device_names_and_slack_escapes_control_characters() -> None:
    [a] = alerts("d1")
    evil = replace(a, finding=replace(a.finding, device_name="<script>alert(1)</script>&"))
    html = rc(urls=["mailto://u:p@example.com"])
    _, body, _ = Templates().render(html, context(html, [evil]))
    assert "<script>" not in body
    assert "&lt;script&gt;" in body
    slack = rc(urls=["slack://T/B/C"])
    _, body, _ = Templates().render(slack, context(slack, [evil]))
    # What Slack receives is what apprise makes of the Markdown body.
    to_slack = apprise.Apprise.instantiate("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F")
    assert to_slack is not None
    sent = to_slack.dialect_convert(body, apprise.NotifyFormat.MARKDOWN)
    assert "<script>" not in sent
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in sent


def test_receiver_overrides_see_the_reason_and_counts() -> None:
    r = rc(title_template="{{ reason|upper }} {{ firing_count }}",
           body_template="{% for d in devices %}{{ d.name }}/{{ d.serial }} {% endfor %}")
    title, body, _ = Templates([r]).render(r, context(r, alerts("d1", "d2")))
    assert title == "FIRST 2"
    assert body == "Mac d1/C02D1 Mac d2/C02D2"


def test_html_override_is_autoescaped() -> None:
    r = rc(urls=["mailto://u:p@example.com"], body_template="<b>{{ firing[0].device_name }}</b>")
    [a] = alerts("d1")
    evil = replace(a, finding=replace(a.finding, device_name="<i>x</i>"))
    _, body, _ = Templates([r]).render(r, context(r, [evil]))
    assert body == "<b>&lt;i&gt;x&lt;/i&gt;</b>"


@pytest.mark.parametrize(
    "template",
    [
        "{{ no_such_variable }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # the sandbox refuses
    ],
)
def test_failing_override_falls_back_to_the_default(template: str) -> None:
    r = rc(body_template=template)
    with structlog.testing.capture_logs() as logs:
        _, body, _ = Templates([r]).render(r, context(r, alerts("d1")))
    assert "Mac d1" in body
    assert [e["event"] for e in logs] == ["notify.template_failed"]


def test_override_with_a_syntax_error_is_a_config_error() -> None:
    good = rc(name="a")
    bad = rc(name="b", body_template="{% for x in %}")
    with pytest.raises(ConfigError, match=r"receivers\.1\.body_template"):
        Templates([good, bad])


@pytest.mark.parametrize(
    ("receiver", "expected"),
    [
        (rc(), "  device page: https://acme.kandji.io/devices/d1"),
        (rc(urls=["json://h/x"], format="markdown"),
         "[device page](<https://acme.kandji.io/devices/d1>)"),
        (rc(urls=["slack://T/B/C"]), "[device page](<https://acme.kandji.io/devices/d1>)"),
        (rc(urls=["mailto://u:p@example.com"]),
         '(<a href="https://acme.kandji.io/devices/d1">device page</a>)'),
    ],
)
def test_every_flavour_links_each_device_to_its_console_page(
    receiver: ReceiverConfig, expected: str
) -> None:
    links = ConsoleLinks({"acme": ("kandji", "https://acme.kandji.io")})
    firing = alerts("d1", "d2")
    _, body, _ = Templates(links=links).render(receiver, context(receiver, firing))
    assert expected in body
    assert expected.replace("d1", "d2") in body
    # Resolved devices are linked too; without a console nothing is.
    _, body, _ = Templates(links=links).render(
        receiver, context(receiver, [], firing, reason=NotifyReason.RESOLVED))
    assert expected in body
    _, body, _ = Templates().render(receiver, context(receiver, firing))
    assert "kandji.io" not in body


def test_a_custom_template_prints_links_through_the_url_filter_only() -> None:
    links = ConsoleLinks({"acme": ("kandji", "https://acme.kandji.io/{device_id}?x=(1)")})
    r = rc(urls=["slack://T/B/C"], body_template=(
        "{% for d in devices %}[{{ d.name }}](<{{ d.link|url }}>) {{ d.link_exact }} "
        "[x](<{{ 'javascript:alert(1)'|url }}>) {{ 'https://evil.example' }}\n{% endfor %}"))
    [a] = alerts("d1")
    evil = replace(a, finding=replace(a.finding, device_name="a](<https://evil.example>) [b"))
    _, body, _ = Templates([r], links=links).render(r, context(r, [evil]))
    sent = str(apprise.Apprise.instantiate(
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F").dialect_convert(  # type: ignore[union-attr]
        body, apprise.NotifyFormat.MARKDOWN))
    assert "<https://acme.kandji.io/d1?x=%281%29|" in sent
    assert "True" in sent
    assert "javascript" not in sent
    assert "<https://evil.example" not in sent
