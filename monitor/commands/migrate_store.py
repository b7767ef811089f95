"""``compliance-monitor migrate-store --from URL``: copy a store into the config's store.

The upgrade path from one SQLite file to PostgreSQL: point the config's ``store`` at the
new (empty) PostgreSQL database, stop the daemon, run this with ``--from`` the old file,
start the daemons. Every table is copied (alerts and their history, sweeps, the
notification log, the outbox, silences, the actions audit, source health, the budget
ledger, leases, the memo); the target's schema is created first and must be empty of
alerts, sweeps, messages and silences. The source is only read.

Exit codes: 0 copied, 1 the copy failed (one line says why; nothing is half-copied: the
copy is one transaction).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from monitor.config import Config
from monitor.errors import StoreError
from monitor.log import redact
from monitor.store import open_store, store_name

EXIT_OK = 0
EXIT_FAILED = 1


async def run(
    args: argparse.Namespace, config: Config, *, out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Copy the store at ``args.source`` into ``config.store``; the exit code."""
    stdout, stderr = out or sys.stdout, err or sys.stderr
    source = open_store(args.source)
    if source.sqlite_file is not None and not source.sqlite_file.exists():
        print(f"migrate-store: no store at {source.url}", file=stderr)
        return EXIT_FAILED
    target_name = store_name(config.store)
    if source.url == target_name:
        print("migrate-store: the source and the target are the same store", file=stderr)
        return EXIT_FAILED
    try:
        async with source, open_store(config.store) as target:
            counts = await source.copy_into(target)
    except StoreError as exc:
        print(f"migrate-store: {redact(str(exc))}", file=stderr)
        return EXIT_FAILED
    copied = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    print(f"copied {source.url} into {target_name}: {copied or 'nothing (empty)'}",
          file=stdout)
    return EXIT_OK
