"""The append-only audit trail: append and read, nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store._base import Repository
from bot.store.models import AuditEntry, AuditEvent, AuditPage, dump_details
from bot.store.tables import audit_events

MAX_PAGE_SIZE = 100


async def insert_event(
    conn: AsyncConnection,
    *,
    at: datetime,
    account: str,
    event: AuditEvent | str,
    actor: str,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append inside the caller's transaction (used to log a state change atomically)."""
    result = await conn.execute(
        audit_events.insert()
        .values(
            at=at,
            account=account,
            request_id=request_id,
            event=str(event),
            actor=actor,
            details=dump_details(details),
        )
        .returning(*audit_events.c)
    )
    return AuditEntry.from_row(result.mappings().one())


class AuditLog(Repository):
    async def append(
        self,
        account: str,
        event: AuditEvent | str,
        actor: str,
        *,
        request_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        async with self._engine.begin() as conn:
            return await insert_event(
                conn,
                at=self._now(at),
                account=account,
                event=event,
                actor=actor,
                request_id=request_id,
                details=details,
            )

    async def page(self, account: str | None, *, page: int = 1, page_size: int = 20) -> AuditPage:
        """Newest first. `account=None` lists every account.

        The count is a COUNT(*) answered from the (account, id) index alone, so it stays in
        the low milliseconds at 100k rows; the page itself is an index range scan.
        """
        if page < 1:
            raise ValueError("page starts at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        rows_q = select(audit_events).order_by(audit_events.c.id.desc())
        count_q = select(func.count()).select_from(audit_events)
        if account is not None:
            rows_q = rows_q.where(audit_events.c.account == account)
            count_q = count_q.where(audit_events.c.account == account)
        rows_q = rows_q.limit(page_size).offset((page - 1) * page_size)
        async with self._engine.connect() as conn:
            total = (await conn.execute(count_q)).scalar_one()
            rows = (await conn.execute(rows_q)).mappings().all()
        return AuditPage(
            entries=tuple(AuditEntry.from_row(r) for r in rows),
            page=page,
            page_size=page_size,
            total=total,
        )

    async def count_since(self, account: str, event: AuditEvent | str, since: datetime) -> int:
        """How many `event`s the account has had at or after `since`."""
        query = (
            select(func.count())
            .select_from(audit_events)
            .where(
                audit_events.c.account == account,
                audit_events.c.event == str(event),
                audit_events.c.at >= since,
            )
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def list_for_request(self, request_id: str) -> list[AuditEntry]:
        """Oldest first: the story of one request."""
        query = (
            select(audit_events)
            .where(audit_events.c.request_id == request_id)
            .order_by(audit_events.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AuditEntry.from_row(r) for r in rows]
