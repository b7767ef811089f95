"""``compliance-monitor actions list``: the audit trail of remediation actions."""

from __future__ import annotations

import argparse
import json

from monitor.actions import format_actions, list_actions
from monitor.config import Config
from monitor.store import open_store


async def run(args: argparse.Namespace, config: Config) -> int:
    """Print the recorded action attempts, newest first (a table, or JSON with --json)."""
    async with open_store(config.store) as store:
        entries = await list_actions(store, device=args.device, limit=args.limit)
    if args.json:
        doc = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "action": e.action,
                "source": e.source,
                "device_id": e.device_id,
                "device_name": e.device_name,
                "who": e.who,
                "result": e.result,
                "trigger": e.trigger,
                "params": dict(e.params),
                "message": e.message,
                "dry_run": e.dry_run,
            }
            for e in entries
        ]
        print(json.dumps(doc, indent=2))
    else:
        print(format_actions(entries))
    return 0
