"""The digest e-mail as a reader sees it: rendered in headless Chromium, pictures kept.

Ten days of a simulated Kandji tenant on the fake clock (items breaking and being
fixed), then the weekly digest delivered by apprise to a real SMTP server (aiosmtpd).
The e-mail's HTML part and its PNG attachment are laid out as a mail client shows
them (headers, body, the attachment below) and rendered in Chromium. Kept in
``test-output/``: ``digest-email.png`` (the screenshot), ``digest-email.html`` and
``digest-trend.png`` (the attachment as received).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import load_config
from tests.browser import OUTPUT, needs_chromium, png_size, run_chromium
from tests.e2e.alerting_support import quiet_spec, set_status, slots, tenant, write_config
from tests.servers import mailto_url, smtp_server

pytestmark = [pytest.mark.slow, needs_chromium]

PASSWORD = "digest-render-pass"
START = datetime(2025, 12, 26, 8, 0, tzinfo=UTC)  # a Friday; the digest goes on Monday 5th
#: (day, slot index, status): what breaks and what gets fixed, day by day.
STORY = [(0, 0, "ERROR"), (0, 1, "ERROR"), (2, 2, "ERROR"), (3, 3, "ERROR"),
         (3, 4, "ERROR"), (5, 0, "PASS"), (6, 5, "ERROR"), (7, 6, "ERROR"),
         (8, 2, "PASS"), (8, 3, "PASS"), (9, 7, "ERROR")]


def mail_view(message: EmailMessage, body: str, png: bytes) -> str:
    """The message as a mail client lays it out: headers, HTML body, attachment."""
    inner = re.search(r"<body[^>]*>(.*)</body>", body, re.DOTALL)
    assert inner is not None
    headers = "".join(f"<div><b>{name}:</b> {html.escape(str(message[name]))}</div>"
                      for name in ("From", "To", "Date", "Subject"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; font-family: sans-serif; background: #fff }}
.headers {{ background: #f1f3f5; border-bottom: 1px solid #d0d4d8; padding: 12px 20px;
            line-height: 1.6; font-size: 14px }}
.mail {{ padding: 4px 20px 12px; font-family: sans-serif; color: #222; max-width: 760px }}
.attachment {{ border-top: 1px solid #d0d4d8; padding: 12px 20px; font-size: 14px }}
</style></head><body>
<div class="headers">{headers}</div>
<div class="mail">{inner.group(1)}</div>
<div class="attachment"><div>Attachment: trend.png ({len(png):,} bytes)</div>
<img src="digest-trend.png" alt="trend chart"></div>
</body></html>"""


async def test_the_digest_email_renders_in_chromium_and_pictures_are_kept(
    tmp_path: Path,
) -> None:
    clock = FakeClock(START)
    with smtp_server(PASSWORD) as (mailbox, port):
        async with tenant(quiet_spec(devices=12), clock=clock) as (url, sim):
            broken = slots(sim.fleet, 8)
            mail = mailto_url(port, PASSWORD, "it@example.com")
            receivers = [{"name": "console", "console": True},
                         {"name": "it-mail", "urls": [mail]}]
            digests = [{"name": "weekly-it", "receiver": "it-mail", "trend_days": 14,
                        "schedule": {"days": ["mon"], "at": "09:00",
                                     "timezone": "Europe/Paris"}}]
            cfg = write_config(
                tmp_path, kandji_url=url,
                receivers=yaml.safe_dump({"receivers": receivers}, sort_keys=False),
                route=yaml.safe_dump({"route": {"receiver": "console"}}),
                extra=yaml.safe_dump({"digests": digests}, sort_keys=False),
            )
            config = load_config(cfg)
            async with App(config, clock=clock, web_enabled=False) as app:
                for day in range(11):
                    for when, index, status in STORY:
                        if when == day:
                            set_status(sim.fleet, broken[index], status)
                    clock.set(START + timedelta(days=day))
                    assert (await app.sweep_source("acme")).ok
                await app.digests.send(config.digests[0], clock.now())

    [message] = mailbox.received
    part = message.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    body = str(part.get_content())
    [attachment] = list(message.iter_attachments())
    png = attachment.get_payload(decode=True)
    assert isinstance(png, bytes)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert str(message["Subject"]).startswith("[DIGEST] weekly-it: 5 alerts firing")
    assert "Resolved in the period (3)" in body
    for slot in (broken[1], broken[4], broken[7]):
        assert slot.device_name in body

    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "digest-trend.png").write_bytes(png)
    page = OUTPUT / "digest-email.html"
    page.write_text(mail_view(message, body, png), encoding="utf-8")
    shot = OUTPUT / "digest-email.png"
    shot.unlink(missing_ok=True)
    await run_chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,1700",
                       "--allow-file-access-from-files", page.as_uri())
    assert png_size(shot) == (1000, 1700)
    assert shot.stat().st_size > 30_000  # a blank page compresses to far less
