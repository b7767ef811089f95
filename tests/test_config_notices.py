"""Config checks of owner receivers and digests: what is refused, with the key named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from monitor.config import Config

MAIL = "mailto://u:p@127.0.0.1:2525?from=it@example.com"


def config(receivers: list[dict[str, Any]], **extra: Any) -> Config:
    return Config.model_validate({
        "sources": [{"kind": "kandji", "name": "acme", "url": "https://acme.api.kandji.io",
                     "token": "t"}],
        "receivers": [{"name": "ops", "console": True}, *receivers],
        "route": {"receiver": "ops"},
        **extra,
    })


def test_a_complete_owner_receiver_and_digest_load() -> None:
    c = config(
        [{"name": "owners", "urls": [MAIL], "owner": {
            "grace": "4h", "window": {"timezone": "Europe/Paris"}, "remind_every": "2d",
            "escalate": {"receiver": "ops", "after": "7d", "reminders": 3}}}],
        digests=[{"name": "weekly", "receiver": "ops", "scope": {"receivers": ["owners"]},
                  "schedule": {"days": ["mon"], "at": "09:00", "timezone": "Europe/Paris"}}],
    )
    owner = c.receiver("owners").owner
    assert owner is not None
    assert owner.escalate is not None
    assert owner.escalate.reminders == 3
    assert c.digests[0].schedule.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("receivers", "extra", "message"),
    [
        ([{"name": "owners", "urls": ["json://127.0.0.1/x"], "owner": {}}], {},
         "mailto"),
        ([{"name": "owners", "urls": [MAIL], "owner": {"escalate": {"receiver": "nope",
                                                                    "after": "1d"}}}], {},
         "no receiver is named 'nope'"),
        ([{"name": "owners", "urls": [MAIL], "owner": {"escalate": {"receiver": "owners",
                                                                    "after": "1d"}}}], {},
         "is an owner receiver"),
        ([{"name": "owners", "urls": [MAIL], "owner": {"escalate": {"receiver": "ops"}}}], {},
         "escalate needs"),
        ([{"name": "owners", "urls": [MAIL], "owner": {"window": {"timezone": "Mars/Base"}}}],
         {}, "unknown time zone"),
        ([], {"digests": [{"name": "d", "receiver": "nope"}]}, "no receiver is named 'nope'"),
        ([], {"digests": [{"name": "d", "receiver": "ops", "scope": {"match_re": {"a": "("}}}]},
         "invalid regex"),
        ([], {"digests": [{"name": "d", "receiver": "ops"}, {"name": "d", "receiver": "ops"}]},
         "two digests are named 'd'"),
        ([], {"digests": [{"name": "d", "receiver": "ops",
                           "schedule": {"at": "25:00"}}]}, "at"),
    ],
)
def test_bad_owner_and_digest_settings_are_refused(
    receivers: list[dict[str, Any]], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        config(receivers, **extra)
