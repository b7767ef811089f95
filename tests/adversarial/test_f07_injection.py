"""Finding 7: device data cannot bring formatting into messages.

A device name carrying a Markdown link, Slack and Discord mentions, a forged
``[RESOLVED]`` line, NUL, a bidi override and a terminal escape: the console (text)
shows it on one line with the controls gone; a Markdown webhook gets it escaped.
"""

from __future__ import annotations

from pathlib import Path

import apprise

from tests.adversarial.hostile import hostile_kandji, run_cli, write_config
from tests.servers import webhook_server

TOKEN = "hostile-test-token-0007"
EVIL = (
    "[click me](http://evil.example) <!channel> @everyone"
    "\n[RESOLVED] all good\x00\u202egnp.exe\x1b[31mred"
)


async def test_injected_formatting_arrives_as_inert_text(tmp_path: Path) -> None:
    async with webhook_server() as (hook, port), hostile_kandji(lambda i, _: EVIL) as kandji:
        receivers = (
            "  - name: hook\n"
            f"    urls: ['json://127.0.0.1:{port}/hook']\n"
            "    format: markdown\n"
        )
        cfg = write_config(tmp_path, kandji.base_url, TOKEN, receivers=receivers)
        cfg.write_text(
            cfg.read_text().replace(
                "route:\n  receiver: console\n",
                "route:\n  receiver: console\n  routes:\n"
                "    - {receiver: console, continue: true}\n"
                "    - {receiver: hook}\n",
            )
        )
        res = await run_cli("once", "-c", str(cfg))
    assert res.returncode == 1, res.stderr
    text = res.stdout
    for bad in ("\x00", "\u202e", "\x1b"):
        assert bad not in text
    assert not any(line.startswith("[RESOLVED]") for line in text.splitlines())
    assert "[RESOLVED] all good" in text, "the text stays, on the device's line"
    [body] = hook.bodies
    markdown = str(body["message"])
    assert "](http" not in markdown
    assert "<!channel>" not in markdown
    assert "@everyone" not in markdown
    assert not any(line.startswith("[RESOLVED]") for line in markdown.splitlines())
    # What Slack would receive from apprise's Markdown conversion is no link, no mention.
    slack = apprise.Apprise.instantiate("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F")
    assert slack is not None
    sent = slack.dialect_convert(markdown, apprise.NotifyFormat.MARKDOWN)
    assert "<http" not in sent
    assert "<!channel" not in sent
