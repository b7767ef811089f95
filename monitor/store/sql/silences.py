"""Silences and the actions audit on SQL: what people muted, and what remediation did.

A silence is added with its matchers and ends at its end time or when expired by hand
(its end moves to that moment); the audit only grows, and prune keeps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import RowMapping, insert, select, update

from monitor.store.base import SilenceStore
from monitor.store.codec import dumps, loads, parse_ts, ts
from monitor.store.records import ActionRecord, Matcher, MatchOp, SilenceDraft, SilenceRecord
from monitor.store.schema import actions, silences
from monitor.store.sql.core import SqlCore, where_given


class SqlSilences(SqlCore, SilenceStore):
    """Silences added at run time, and the audit of remediation actions."""

    async def add_silence(self, draft: SilenceDraft) -> SilenceRecord:
        if not draft.matchers:
            raise ValueError("a silence needs at least one matcher")
        if draft.ends_at <= draft.starts_at:
            raise ValueError("a silence must end after it starts")
        async with self._write("add silence") as conn:
            silence_id = int(
                (
                    await conn.execute(
                        insert(silences)
                        .values(
                            matchers=dumps([{"name": m.name, "op": m.op, "value": m.value}
                                            for m in draft.matchers]),
                            starts_at=ts(draft.starts_at), ends_at=ts(draft.ends_at),
                            comment=draft.comment, author=draft.author,
                            created_at=ts(draft.created_at),
                        )
                        .returning(silences.c.id)
                    )
                ).scalar_one()
            )
        return SilenceRecord.added(draft, silence_id)

    async def silences(
        self, now: datetime | None = None, *, include_expired: bool = False
    ) -> list[SilenceRecord]:
        stmt = select(silences)
        if not include_expired and now is not None:
            stmt = stmt.where(silences.c.ends_at > ts(now))
        rows = await self._fetchall("silences", stmt.order_by(silences.c.id))
        return [_silence(r) for r in rows]

    async def expire_silence(self, silence_id: int, now: datetime) -> bool:
        async with self._write("expire silence") as conn:
            result = await conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.ends_at > ts(now))
                .values(ends_at=ts(now))
            )
            return int(result.rowcount) > 0

    async def record_action(
        self, action: str, device: str, who: str, at: datetime, result: str, detail: str = ""
    ) -> int:
        async with self._write("record action") as conn:
            return int(
                (
                    await conn.execute(
                        insert(actions)
                        .values(action=action, device=device, who=who, at=ts(at),
                                result=result, detail=detail)
                        .returning(actions.c.id)
                    )
                ).scalar_one()
            )

    async def actions(
        self, *, device: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[ActionRecord]:
        stmt = where_given(select(actions), (actions.c.device, device))
        if since is not None:
            stmt = stmt.where(actions.c.at >= ts(since))
        rows = await self._fetchall("actions", stmt.order_by(actions.c.id.desc()).limit(limit))
        return [
            ActionRecord(
                id=int(r["id"]), action=r["action"], device=r["device"], who=r["who"],
                at=parse_ts(r["at"]), result=r["result"], detail=r["detail"],
            )
            for r in rows
        ]


def _silence(r: RowMapping) -> SilenceRecord:
    matchers = tuple(
        Matcher(name=str(m["name"]), op=cast(MatchOp, m["op"]), value=str(m["value"]))
        for m in loads(r["matchers"])
    )
    return SilenceRecord(
        id=int(r["id"]),
        matchers=matchers,
        starts_at=parse_ts(r["starts_at"]),
        ends_at=parse_ts(r["ends_at"]),
        comment=r["comment"],
        author=r["author"],
        created_at=parse_ts(r["created_at"]),
    )
