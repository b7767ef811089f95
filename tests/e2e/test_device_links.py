"""Device links in real messages: Macs in Kandji, Windows PCs in Applivery, hostile names.

One sweep of a Kandji tenant (the documented example devices, renamed with Markdown
links, mentions, tags and a forged line) and a simulated Applivery organization (a
non-compliant PC named the same way), delivered by apprise to three real loopback
receivers: a JSON webhook (plain text), an SMTP server (HTML e-mail) and a stand-in
for Slack's incoming webhooks (apprise's own Slack plugin, Markdown turned to mrkdwn).

- Each Mac's line carries its page in the Kandji console, ``/devices/<id>``.
- Each PC's line carries the Applivery workspace, labelled as the place to search by
  serial (Applivery documents no device page), unless ``console_url`` is a template
  with ``{device_id}``, when it is the PC's own page.
- The device names arrive as inert text in every format: the only live links are the
  console links; no mention, no tag, no forged line.
- The status page links the same places, saying which are not the device's own page.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.app import App
from monitor.config import load_config
from monitor.simulator.applivery import start_applivery
from tests.adversarial.hostile import DEVICES, hostile_kandji
from tests.servers import (
    SLACK_URL,
    Mailbox,
    SlackHook,
    Webhook,
    mailto_url,
    slack_to_loopback,
    slack_webhook,
    smtp_server,
    webhook_server,
)

TOKEN = "device-links-token-8e21"
PASSWORD = "smtp-links-pass"
EVIL = "[click me](http://evil.example) <!channel> @everyone <b>bold</b>\n[RESOLVED] ok"
MACS = [(d["device_id"], d["serial_number"]) for d in json.loads(DEVICES.read_text())]
KANDJI_CONSOLE = "https://acme.kandji.io"

RULES = """\
rules:
  - id: test.every-mac
    description: Every Mac fires, so every device name reaches a message.
    source: kandji
    subject: device
    match: {platform: Mac}
    severity: critical
    summary: "{{ device.name }} is a Mac"
  - id: test.pc-non-compliant
    description: Applivery judges the PC non-compliant.
    source: applivery
    subject: device
    match: {compliance: false}
    severity: critical
    summary: "{{ device.name }} is not compliant"
"""


@dataclass
class Delivered:
    hook: Webhook
    mailbox: Mailbox
    slack: SlackHook
    pc_id: str
    pc_serial: str
    status_links: dict[str, tuple[str | None, bool]]


def config_text(kandji: str, applivery: str, hook: int, smtp: int,
                applivery_console: str | None) -> str:
    console = f"    console_url: '{applivery_console}'\n" if applivery_console else ""
    return f"""\
sources:
  - name: macs
    kind: kandji
    url: {kandji}
    token: ${{TOKEN}}
    strategy: per_device
    console_url: {KANDJI_CONSOLE}
    retry: {{max_attempts: 1}}
  - name: pcs
    kind: applivery
    url: {applivery}
    organization: acme-win
    token: ${{TOKEN}}
{console}rules:
  builtin: false
  files: [rules.yaml]
receivers:
  - name: hook
    urls: ["json://127.0.0.1:{hook}/hook"]
  - name: mail
    urls: ["{mailto_url(smtp, PASSWORD, "it@example.com")}"]
  - name: slack
    urls: ["{SLACK_URL}"]
route:
  receiver: hook
  group_by: [rule_id, source]
  routes:
    - {{receiver: hook, continue: true}}
    - {{receiver: mail, continue: true}}
    - {{receiver: slack}}
store: {{path: state.db}}
web: {{enabled: false}}
"""


@asynccontextmanager
async def delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, applivery_console: str | None = None
) -> AsyncIterator[Delivered]:
    """One sweep of both sources, delivered to the three receivers."""
    runner, applivery_url, sim = await start_applivery(
        "127.0.0.1", 0, devices=6, seed=9, token=TOKEN, organization="acme-win"
    )
    try:
        for d in sim.fleet.devices:
            sim.fleet.set_compliance(d.id, True)
        pc = sim.fleet.devices[0]
        sim.fleet.set_state(pc.id, "ACTIVE")
        sim.fleet.set_compliance(pc.id, False)
        pc.display_name = EVIL
        with smtp_server(PASSWORD) as (mailbox, smtp_port):
            async with hostile_kandji(lambda i, _: f"{EVIL} #{i}") as kandji, \
                    webhook_server() as (hook, hook_port), slack_webhook() as (slack, base):
                slack_to_loopback(monkeypatch, base)
                (tmp_path / "rules.yaml").write_text(RULES)
                path = tmp_path / "config.yaml"
                path.write_text(config_text(kandji.base_url, applivery_url, hook_port,
                                            smtp_port, applivery_console))
                config = load_config(path, env={"TOKEN": TOKEN})
                async with App(config) as app:
                    results, firing = await app.run_once()
                    assert all(r.ok for r in results), results
                    assert firing >= len(MACS) + 1
                    status_links = {
                        a.device_id: (a.console_link, a.console_exact)
                        for a in await app.status.alerts()
                    }
                yield Delivered(hook, mailbox, slack, pc.id, pc.serial, status_links)
    finally:
        await runner.cleanup()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def live_links_in_html(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]*)"', html))


def live_links_in_slack(text: str) -> set[str]:
    """The targets of Slack's ``<url|label>`` and ``<url>`` links (and mentions: ``<!...>``)."""
    return set(re.findall(r"<([^<>|\\]+)(?:\|[^<>]*)?>", text))


async def test_each_message_links_macs_to_their_kandji_page_and_pcs_to_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with delivered(tmp_path, monkeypatch) as got:
        workspace = "https://dashboard.applivery.io/acme-win"
        mac_pages = {f"{KANDJI_CONSOLE}/devices/{device_id}" for device_id, _ in MACS}

        # Plain text (a JSON webhook): a line per device with its link.
        text = got.hook.text()
        for page in mac_pages:
            assert f"  device page: {page}" in text
        assert f"  console, search by serial: {workspace}" in text
        assert got.pc_serial in text  # what to search for
        assert not any(line.startswith("[RESOLVED]") for line in text.splitlines())
        assert "[click me](http://evil.example) <!channel>" in text  # text, on its line

        # HTML e-mail: the links are anchors; the names are escaped text.
        assert got.mailbox.received
        html = "\n".join(html_of(m) for m in got.mailbox.received)
        assert live_links_in_html(html) == mac_pages | {workspace}
        for page in mac_pages:
            assert f'<a href="{page}">device page</a>' in html
        assert f'<a href="{workspace}">console, search by serial</a>' in html
        assert "<b>bold</b>" not in html
        assert "&lt;b&gt;bold&lt;/b&gt;" in html
        assert "<!channel>" not in html

        # Slack (apprise's plugin, posting to the loopback): mrkdwn links, nothing else.
        assert got.slack.payloads
        assert got.slack.uploads == 0
        slack = got.slack.texts()
        assert live_links_in_slack(slack) == mac_pages | {workspace}
        for page in mac_pages:
            assert f"<{page}|device page>" in slack
        assert f"<{workspace}|console, search by serial>" in slack
        assert "@everyone" not in slack
        assert "&lt;!channel&gt;" in slack  # the name's "mention", shown, not alive

        # The status page links the same places and says which is not the device's page.
        for device_id, _ in MACS:
            assert got.status_links[device_id] == (
                f"{KANDJI_CONSOLE}/devices/{device_id}", True)
        assert got.status_links[got.pc_id] == (workspace, False)


async def test_a_console_url_template_links_each_pc_to_its_own_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = "https://dashboard.applivery.io/acme-win/mdm/devices/{device_id}?tab=info"
    async with delivered(tmp_path, monkeypatch, applivery_console=template) as got:
        page = template.replace("{device_id}", got.pc_id)
        assert f"  device page: {page}" in got.hook.text()
        html = "\n".join(html_of(m) for m in got.mailbox.received)
        assert f'<a href="{page.replace("&", "&amp;")}">device page</a>' in html
        assert f"<{page}|device page>" in got.slack.texts()
        assert got.status_links[got.pc_id] == (page, True)
