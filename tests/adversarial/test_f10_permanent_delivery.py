"""Finding 10 (delivery): a refusal that retrying cannot mend is a dead letter at once.

A webhook that answers 401 refuses the credentials in its URL: the message is
dead-lettered on the first attempt with that reason (not retried for days), and
``once`` exits 1 since a delivery failed. A receiver URL apprise cannot parse stops
``run`` and ``once`` before they start (exit 2), as ``validate`` does.
"""

from __future__ import annotations

from pathlib import Path

from tests.adversarial.hostile import hostile_kandji, run_cli, write_config
from tests.adversarial.support import cli
from tests.servers import webhook_server

TOKEN = "hostile-test-token-0010"


async def test_an_auth_refusal_is_dead_lettered_at_once_with_its_reason(tmp_path: Path) -> None:
    async with webhook_server() as (hook, port), hostile_kandji() as kandji:
        hook.status = 401
        receivers = f"  - name: hook\n    urls: ['json://127.0.0.1:{port}/hook']\n"
        cfg = write_config(tmp_path, kandji.base_url, TOKEN, receivers=receivers)
        text = cfg.read_text().replace("route:\n  receiver: console", "route:\n  receiver: hook")
        cfg.write_text(text)
        res = await run_cli("once", "-c", str(cfg))
        assert len(hook.bodies) == 1, "tried once, not again"
    assert res.returncode == 1
    assert "could not be delivered" in res.stderr
    listing = cli("outbox", "list", "-c", str(cfg), "--json")
    assert listing.returncode == 0, listing.stderr
    assert '"dead"' in listing.stdout
    assert "401" in listing.stdout or "nauthori" in listing.stdout


def test_an_unparsable_receiver_url_stops_once_before_it_starts(tmp_path: Path) -> None:
    receivers = "  - name: hook\n    urls: ['jsn://127.0.0.1:9/hook']\n"
    cfg = write_config(tmp_path, "http://127.0.0.1:9", TOKEN, receivers=receivers)
    res = cli("once", "-c", str(cfg))
    assert res.returncode == 2
    assert "receivers.hook.urls.0: not a valid apprise URL" in res.stderr
    assert not (tmp_path / "state").exists(), "nothing started"
