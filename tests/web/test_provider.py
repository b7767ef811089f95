"""Console links, derived console URLs, and the in-memory provider."""

from __future__ import annotations

import pytest

from monitor.models import SourceKind
from monitor.sources import registry
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
