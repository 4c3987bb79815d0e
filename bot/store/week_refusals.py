"""What Upstox enforced: refusals (UDAPI1185) of changes the bot's week rule allowed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ist import Clock
from bot.store._base import Repository, SharedReads
from bot.store.audit import insert_event
from bot.store.models import AuditEvent
from bot.store.tables import week_refusals

c = week_refusals.c


@dataclass(frozen=True, slots=True)
class WeekRefusal:
    account: str
    refused_at: datetime
    last_change_at: datetime
    request_id: str | None


class WeekRefusalRepository(Repository):
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        super().__init__(engine, clock)
        # Read by every `show` and every window estimate; written once in a blue moon.
        self._reads: SharedReads[list[WeekRefusal]] = SharedReads()

    async def record(
        self,
        account: str,
        *,
        refused_at: datetime,
        last_change_at: datetime,
        request_id: str | None,
    ) -> WeekRefusal:
        """Store the refusal and its audit event in one transaction."""
        try:
            await self._record(account, refused_at, last_change_at, request_id)
        finally:
            self._reads.written()
        return WeekRefusal(account, refused_at, last_change_at, request_id)

    async def _record(
        self,
        account: str,
        refused_at: datetime,
        last_change_at: datetime,
        request_id: str | None,
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                week_refusals.insert().values(
                    account=account,
                    refused_at=refused_at,
                    last_change_at=last_change_at,
                    request_id=request_id,
                )
            )
            await insert_event(
                conn,
                at=self._now(None),
                account=account,
                event=AuditEvent.WEEK_RULE_LEARNED,
                actor="upstox",
                request_id=request_id,
                details={
                    "refused_at": refused_at.isoformat(),
                    "last_change_at": last_change_at.isoformat(),
                    "gap_seconds": int((refused_at - last_change_at).total_seconds()),
                },
            )

    async def _list(self, account: str, limit: int) -> list[WeekRefusal]:
        query = select(week_refusals).where(c.account == account).order_by(c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            WeekRefusal(r["account"], r["refused_at"], r["last_change_at"], r["request_id"])
            for r in rows
        ]

    async def list(self, account: str, *, limit: int = 20) -> list[WeekRefusal]:
        """Newest first. Concurrent callers share one query (`SharedReads`)."""
        return list(await self._reads.read((account, limit), lambda: self._list(account, limit)))
