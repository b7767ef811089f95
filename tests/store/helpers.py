"""Builders of the records the store tests write."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]

from monitor.models import (
    Coverage,
    FactKind,
    Finding,
    NotifyReason,
    Severity,
    SourceKind,
    SubjectKind,
    SweepStats,
)
from monitor.store import MessageDraft, NotificationLogEntry

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


#: A config with one source and a console receiver, for store sections to be added to.
MINIMAL_CONFIG = """\
sources:
  - name: acme
    kind: kandji
    url: http://127.0.0.1:8081
    token: t
receivers:
  - name: console
    console: true
route:
  receiver: console
"""

def finding(device: str = "d1", item: str = "i1", source: str = "acme") -> Finding:
    return Finding(
        rule_id="kandji.library-item.failed",
        source=source,
        source_kind=SourceKind("kandji"),
        device_id=device,
        device_name=f"Mac {device} café",
        device_serial=f"SER{device}",
        subject_kind=SubjectKind.LIBRARY_ITEM,
        subject_id=item,
        subject_name=f"Item {item}",
        subject_status="ERROR",
        severity=Severity.CRITICAL,
        summary="it broke",
        labels={"team": "endpoint"},
        for_seconds=60.0,
        keep_firing_for_seconds=300.0,
    )


def cov(source: str = "acme") -> Coverage:
    return Coverage(
        source=source,
        devices=frozenset({"d1", "d2"}),
        device_list_complete=True,
        complete_kinds=frozenset(FactKind),
    )


def stats(source: str = "acme", at: datetime = T0) -> SweepStats:
    return SweepStats(source=source, started_at=at - timedelta(seconds=5), finished_at=at,
                      ok=True, devices=2, requests=7, findings=1)


def draft(group: str, n: int, at: datetime = T0) -> MessageDraft:
    return MessageDraft(
        group_key=group, receiver="ops", reason=NotifyReason.FIRST, title=f"t{n}",
        body=f"body {n}", body_format="text", created_at=at, firing=n,
    )


def log_entry(group: str, firing: set[str], at: datetime = T0) -> NotificationLogEntry:
    return NotificationLogEntry(
        group_key=group, receiver="ops", route="root", labels={"rule_id": "r"},
        firing=frozenset(firing), sent_at=at, updated_at=at, reason=NotifyReason.FIRST,
    )


async def raw_execute(target: str, sql: str) -> None:
    """Run one statement on the database behind a store URL, outside the store (to
    stage what only another program would write, such as a newer schema revision)."""
    if target.startswith("sqlite"):
        with sqlite3.connect(target.partition(":///")[2]) as db:
            db.execute(sql)
        return
    conn = await asyncpg.connect(target, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
