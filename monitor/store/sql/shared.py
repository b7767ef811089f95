"""State the instances sharing one store coordinate through, on SQL.

- Source leases: taken, renewed and released; the epoch grows whenever a lease changes
  hands or is taken again after it lapsed (the fencing token the other parts check),
  and the lease row is locked while that is decided.
- Instance heartbeats: who is alive, so the sources can be shared out among them.
- The request budget ledger: requests per source per second, a rolling hour, spent
  atomically by every process (the spenders of one source serialise on its row).
- The sweepers' memo: key -> value text per source, fenced by the source's lease.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog
from sqlalchemy import bindparam, delete, func, select, update

from monitor.store.base import SharedState
from monitor.store.codec import parse_ts, ts
from monitor.store.records import Lease
from monitor.store.schema import budget_ledger, budget_sources, instances, leases, source_memo
from monitor.store.sql.core import SqlCore, dialect_insert, lease_holds, locked_row

log = structlog.get_logger(__name__)

HOUR_SECONDS = 3600


class SqlSharedState(SqlCore, SharedState):
    """Leases, instance heartbeats, the request budget ledger and the sweepers' memo."""

    async def acquire_lease(
        self,
        source: str,
        owner: str,
        now: datetime,
        ttl: timedelta,
        *,
        replacing: str | None = None,
    ) -> Lease | None:
        if ttl <= timedelta(0):
            raise ValueError("a lease needs a positive time to live")
        dialect = self._dialect
        async with self._write("acquire lease") as conn:
            row = await locked_row(conn, leases, leases.c.source == source)
            if row is None:
                lease = Lease(source, owner, 1, now, now + ttl)
                result = await conn.execute(
                    dialect_insert(dialect, leases)
                    .values(source=source, owner=owner, epoch=1, acquired_at=ts(now),
                            expires_at=ts(now + ttl))
                    .on_conflict_do_nothing()
                )
                # Another instance inserted the row first (PostgreSQL): theirs.
                return lease if int(result.rowcount) == 1 else None
            live = row["expires_at"] > ts(now)
            if live and replacing is not None and row["owner"] == replacing:
                live = False  # its holder is known to be dead: the lease is free
            if live and row["owner"] != owner:
                return None
            if live:  # a renewal: same epoch, same start
                lease = Lease(source, owner, int(row["epoch"]), parse_ts(row["acquired_at"]),
                              now + ttl)
            else:  # free or lapsed: the next epoch, which fences the previous holder
                lease = Lease(source, owner, int(row["epoch"]) + 1, now, now + ttl)
            await conn.execute(
                update(leases)
                .where(leases.c.source == source)
                .values(owner=owner, epoch=lease.epoch, acquired_at=ts(lease.acquired_at),
                        expires_at=ts(lease.expires_at))
            )
        if lease.epoch != int(row["epoch"]):
            log.info("store.lease_taken", source=source, owner=owner, epoch=lease.epoch,
                     previous_owner=row["owner"])
        return lease

    async def renew_lease(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
        async with self._write("renew lease") as conn:
            result = await conn.execute(
                update(leases)
                .where(lease_holds(lease, now))
                .values(expires_at=ts(now + ttl))
            )
            renewed = int(result.rowcount) == 1
        if not renewed:
            return None
        return Lease(lease.source, lease.owner, lease.epoch, lease.acquired_at, now + ttl)

    async def release_lease(self, lease: Lease, now: datetime) -> bool:
        async with self._write("release lease") as conn:
            result = await conn.execute(
                update(leases)
                .where(lease_holds(lease, now))
                .values(expires_at=ts(now))
            )
            return int(result.rowcount) == 1

    async def leases(self) -> list[Lease]:
        rows = await self._fetchall("leases", select(leases).order_by(leases.c.source))
        return [
            Lease(r["source"], r["owner"], int(r["epoch"]), parse_ts(r["acquired_at"]),
                  parse_ts(r["expires_at"]))
            for r in rows
        ]

    async def heartbeat(self, owner: str, now: datetime, ttl: timedelta) -> list[str]:
        dialect = self._dialect
        async with self._write("heartbeat") as conn:
            ins = dialect_insert(dialect, instances).values(
                name=owner, started_at=ts(now), seen_at=ts(now), expires_at=ts(now + ttl)
            )
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[instances.c.name],
                    set_={"seen_at": ins.excluded.seen_at,
                          "expires_at": ins.excluded.expires_at},
                )
            )
            await conn.execute(
                delete(instances).where(instances.c.expires_at < ts(now - timedelta(days=1)))
            )
            rows = (
                await conn.execute(
                    select(instances.c.name)
                    .where(instances.c.expires_at > ts(now))
                    .order_by(instances.c.name)
                )
            ).all()
        return [str(r[0]) for r in rows]

    async def leave(self, owner: str, now: datetime) -> None:
        async with self._write("leave") as conn:
            await conn.execute(
                update(instances).where(instances.c.name == owner).values(expires_at=ts(now))
            )

    async def spend_budget(self, source: str, now: datetime, want: int, per_hour: int) -> int:
        # The ledger counts requests per whole second. A second's requests count for the
        # 3,600 seconds that follow it in full (the window is rounded outwards), so in
        # any hour at most per_hour requests are granted, whichever processes asked.
        if want < 0 or per_hour < 0:
            raise ValueError("a budget spend needs want >= 0 and per_hour >= 0")
        second = int(now.timestamp())
        horizon = second - HOUR_SECONDS
        dialect = self._dialect
        async with self._write("spend budget") as conn:
            # Serialise the spenders of this source: they all lock its row first.
            await conn.execute(
                dialect_insert(dialect, budget_sources)
                .values(source=source)
                .on_conflict_do_nothing()
            )
            await conn.execute(
                select(budget_sources.c.source)
                .where(budget_sources.c.source == source)
                .with_for_update()
            )
            await conn.execute(
                delete(budget_ledger).where(
                    budget_ledger.c.source == source, budget_ledger.c.second < horizon
                )
            )
            spent = int(
                (
                    await conn.execute(
                        select(func.coalesce(func.sum(budget_ledger.c.spent), 0)).where(
                            budget_ledger.c.source == source, budget_ledger.c.second >= horizon
                        )
                    )
                ).scalar_one()
            )
            granted = max(0, min(want, per_hour - spent))
            if granted:
                ins = dialect_insert(dialect, budget_ledger).values(
                    source=source, second=second, spent=granted
                )
                await conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=[budget_ledger.c.source, budget_ledger.c.second],
                        set_={"spent": budget_ledger.c.spent + ins.excluded.spent},
                    )
                )
        return granted

    async def budget_spent(self, source: str, now: datetime) -> int:
        horizon = int(now.timestamp()) - HOUR_SECONDS
        rows = await self._fetchall(
            "budget spent",
            select(func.coalesce(func.sum(budget_ledger.c.spent), 0).label("n")).where(
                budget_ledger.c.source == source, budget_ledger.c.second >= horizon
            ),
        )
        return int(rows[0]["n"])

    async def load_memo(self, source: str) -> dict[str, str]:
        rows = await self._fetchall(
            "load memo",
            select(source_memo.c.key, source_memo.c.value).where(source_memo.c.source == source),
        )
        return {r["key"]: r["value"] for r in rows}

    async def save_memo(
        self,
        source: str,
        entries: Mapping[str, str | None],
        at: datetime,
        *,
        lease: Lease | None = None,
    ) -> None:
        if lease is not None and lease.source != source:
            raise ValueError(f"memo of {source!r} under the lease of {lease.source!r}")
        dialect = self._dialect
        put = [{"source": source, "key": k, "value": v, "updated_at": ts(at)}
               for k, v in entries.items() if v is not None]
        gone = [{"k": k} for k, v in entries.items() if v is None]
        async with self._write("save memo") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, at)
            if put:
                ins = dialect_insert(dialect, source_memo)
                await conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=[source_memo.c.source, source_memo.c.key],
                        set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
                    ),
                    put,
                )
            if gone:
                await conn.execute(
                    delete(source_memo).where(
                        source_memo.c.source == source, source_memo.c.key == bindparam("k")
                    ),
                    gone,
                )

