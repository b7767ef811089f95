"""Owner notices and digest runs on SQL: the state of the cluster's duties.

An owner's record (what the owner was told of each failing item, and the day's count)
is written in the same transaction as the messages it queues, so a crash leaves both or
neither; digests remember when each last ran. Both writes may be fenced by the duties
lease.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, select

from monitor.store.base import OwnerStore
from monitor.store.codec import dumps, loads, parse_ts, parse_ts_or_none, ts, ts_or_none
from monitor.store.records import Lease, MessageDraft, OutboxMessage, OwnerItemNotice, OwnerRecord
from monitor.store.schema import digest_runs, owner_notices
from monitor.store.sql.core import SqlCore, dialect_insert, where_given
from monitor.store.sql.outbox import insert_message


class SqlOwners(SqlCore, OwnerStore):
    """What device owners were told, and when each digest last ran."""

    async def owner_records(self, receiver: str | None = None) -> dict[str, OwnerRecord]:
        stmt = where_given(select(owner_notices), (owner_notices.c.receiver, receiver))
        rows = await self._fetchall("owner notices", stmt)
        return {r["key"]: _owner_record(r) for r in rows}

    async def save_owner(
        self,
        record: OwnerRecord,
        drafts: Sequence[MessageDraft] = (),
        *,
        lease: Lease | None = None,
    ) -> list[OutboxMessage]:
        dialect = self._dialect
        values = {
            "key": record.key, "receiver": record.receiver, "address": record.address,
            "open_items": len(record.items), "body": dumps(_owner_body(record)),
            "updated_at": ts(record.updated_at),
        }
        async with self._write("save owner") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, record.updated_at)
            queued = [await insert_message(conn, d) for d in drafts]
            ins = dialect_insert(dialect, owner_notices).values(**values)
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[owner_notices.c.key],
                    set_={k: ins.excluded[k] for k in values if k != "key"},
                )
            )
        return queued

    async def digest_runs(self) -> dict[str, datetime]:
        rows = await self._fetchall("digest runs", select(digest_runs))
        return {r["name"]: parse_ts(r["last_run"]) for r in rows}

    async def record_digest_run(
        self, name: str, at: datetime, *, lease: Lease | None = None
    ) -> None:
        dialect = self._dialect
        async with self._write("record digest run") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, at)
            ins = dialect_insert(dialect, digest_runs).values(name=name, last_run=ts(at))
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[digest_runs.c.name],
                    set_={"last_run": ins.excluded.last_run},
                )
            )


def _owner_body(record: OwnerRecord) -> dict[str, Any]:
    return {
        "day": record.day,
        "sent_today": record.sent_today,
        "last_window": record.last_window,
        "items": {
            fp: {
                "first_noticed": ts(n.first_noticed),
                "last_noticed": ts(n.last_noticed),
                "notices": n.notices,
                "escalated_at": ts_or_none(n.escalated_at),
            }
            for fp, n in sorted(record.items.items())
        },
    }


def _owner_record(r: RowMapping) -> OwnerRecord:
    body = loads(r["body"])
    items: Mapping[str, Any] = body.get("items") or {}
    return OwnerRecord(
        key=r["key"],
        receiver=r["receiver"],
        address=r["address"],
        items={
            str(fp): OwnerItemNotice(
                first_noticed=parse_ts(n["first_noticed"]),
                last_noticed=parse_ts(n["last_noticed"]),
                notices=int(n["notices"]),
                escalated_at=parse_ts_or_none(n.get("escalated_at")),
            )
            for fp, n in items.items()
        },
        updated_at=parse_ts(r["updated_at"]),
        day=str(body.get("day", "")),
        sent_today=int(body.get("sent_today", 0)),
        last_window=str(body.get("last_window", "")),
    )
