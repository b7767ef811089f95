"""Console links, derived console URLs, and the in-memory provider."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monitor.models import SourceKind
from monitor.sources import registry
from monitor.sources.links import ConsoleLinks, DeviceLink, device_link
from monitor.web.provider import StaticStatusProvider, StatusProvider, device_console_link
from tests.web.sample import sample_alerts, sample_silences, sample_sources

UUID = "5f1c2a0e-1111-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("kind", "console_url", "device_id", "expected"),
    [
        ("kandji", "https://acme.kandji.io", UUID, f"https://acme.kandji.io/devices/{UUID}"),
        ("kandji", "https://acme.kandji.io/", UUID, f"https://acme.kandji.io/devices/{UUID}"),
        ("kandji", None, UUID, None),
        ("kandji", "", UUID, None),
        (
            "applivery",
            "https://dashboard.applivery.io/acme/mdm/devices/{device_id}",
            "65f0c0ffee0000000000beef",
            "https://dashboard.applivery.io/acme/mdm/devices/65f0c0ffee0000000000beef",
        ),
        # No documented device page: the link goes to the workspace, not a guessed page.
        (
            "applivery",
            "https://dashboard.applivery.io/acme",
            "x1",
            "https://dashboard.applivery.io/acme",
        ),
        # A template works for Kandji too, and ids are URL-quoted.
        (
            "kandji",
            "https://mdm.example/d/{device_id}?x=1",
            "a b/c",
            "https://mdm.example/d/a%20b%2Fc?x=1",
        ),
        (
            SourceKind("kandji"),
            "https://acme.kandji.io",
            "a/b",
            "https://acme.kandji.io/devices/a%2Fb",
        ),
    ],
)
def test_device_console_link(
    kind: str, console_url: str | None, device_id: str, expected: str | None
) -> None:
    assert device_console_link(kind, console_url, device_id) == expected


@pytest.mark.parametrize(
    ("kind", "api_url", "organization", "expected"),
    [
        ("kandji", "https://acme.api.kandji.io", None, "https://acme.kandji.io"),
        ("kandji", "https://acme.api.eu.kandji.io/", None, "https://acme.eu.kandji.io"),
        ("kandji", "http://127.0.0.1:8421", None, None),
        ("applivery", "https://api.applivery.io/v1", "acme", "https://dashboard.applivery.io/acme"),
    ],
)
def test_a_source_derives_its_console_url_from_its_api_url(
    kind: str, api_url: str, organization: str | None, expected: str | None
) -> None:
    extra = {"organization": organization} if organization else {}
    source = registry.get(kind)
    config = source.config_model.model_validate(
        {"name": "s", "kind": kind, "url": api_url, "token": "t", **extra}
    )
    assert source.console_url(config) == expected


@pytest.mark.parametrize(
    ("kind", "console_url", "device_id", "expected"),
    [
        # Kandji documents its device pages: the link is exact.
        ("kandji", "https://acme.kandji.io", UUID,
         DeviceLink(f"https://acme.kandji.io/devices/{UUID}", exact=True)),
        # Applivery documents none: the workspace, marked as not the device's page...
        ("applivery", "https://dashboard.applivery.io/acme", "x1",
         DeviceLink("https://dashboard.applivery.io/acme", exact=False)),
        # ...unless the administrator gives the page's address as a template.
        ("applivery", "https://dashboard.applivery.io/acme/devices/{device_id}", "x1",
         DeviceLink("https://dashboard.applivery.io/acme/devices/x1", exact=True)),
        # Characters Markdown, HTML or Slack would read are percent-encoded; ids quoted.
        ("kandji", "https://mdm.example/d/{device_id}?v=(a)|<b>`c`*", "x)y <z>|",
         DeviceLink("https://mdm.example/d/x%29y%20%3Cz%3E%7C?v=%28a%29%7C%3Cb%3E%60c%60%2A",
                    exact=True)),
        # Only http(s) links exist; no console, no id, no link.
        ("kandji", "javascript:alert(1)//{device_id}", "x", None),
        ("applivery", "data:text/html,hi", "x", None),
        ("kandji", "https://acme.kandji.io", "", None),
        ("unknown-kind", "https://console.example", "x",
         DeviceLink("https://console.example", exact=False)),
    ],
)
def test_device_link_says_whether_it_opens_the_device(
    kind: str, console_url: str, device_id: str, expected: DeviceLink | None
) -> None:
    assert device_link(kind, console_url, device_id) == expected


def test_console_links_follow_each_configured_source() -> None:
    configs = [
        registry.get(kind).config_model.model_validate(
            {"name": name, "kind": kind, "url": url, "token": "t", **extra}
        )
        for name, kind, url, extra in [
            ("macs", "kandji", "https://acme.api.kandji.io", {}),
            ("pcs", "applivery", "https://api.applivery.io/v1", {"organization": "acme"}),
            ("lab", "kandji", "http://127.0.0.1:8421", {}),  # no console known
        ]
    ]
    links = ConsoleLinks.of(configs)
    assert links.link("macs", "d1") == DeviceLink("https://acme.kandji.io/devices/d1", True)
    assert links.link("pcs", "p1") == DeviceLink("https://dashboard.applivery.io/acme", False)
    assert links.link("lab", "d1") is None
    assert links.link("nowhere", "d1") is None
    assert links
    assert not ConsoleLinks()


@pytest.mark.parametrize("console_url", ["javascript:alert(1)", "https://a.example/x y",
                                         "https://a.example/\nX-Header: 1", "ftp://a.example"])
def test_a_console_url_that_is_no_http_url_is_refused(console_url: str) -> None:
    with pytest.raises(ValidationError, match="console_url"):
        registry.get("kandji").config_model.model_validate(
            {"name": "s", "kind": "kandji", "url": "https://acme.api.kandji.io", "token": "t",
             "console_url": console_url}
        )


async def test_static_provider_answers_what_it_holds_and_follows_changes() -> None:
    provider = StaticStatusProvider(sample_alerts(), sample_sources(), sample_silences())
    as_protocol: StatusProvider = provider  # it satisfies the protocol (checked by mypy)
    assert await as_protocol.alerts() == sample_alerts()
    assert await as_protocol.sources() == sample_sources()
    assert await as_protocol.silences() == sample_silences()
    assert await as_protocol.ready() == (True, [])

    provider.is_ready, provider.reasons = False, ["store unreachable"]
    provider.alert_views = []
    assert await as_protocol.ready() == (False, ["store unreachable"])
    assert await as_protocol.alerts() == []
