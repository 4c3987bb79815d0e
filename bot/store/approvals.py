"""Approvals of one request by several approvers (APPROVALS_REQUIRED > 1).

Each approver counts once: the row is inserted with ON CONFLICT DO NOTHING on the unique
(request_id, approver_id) index, together with its audit event, in one transaction. The
decision itself (pending → approved, once enough approvers agree) stays the request's own
conditional update, so exactly one caller wins it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store._base import Repository
from bot.store.audit import insert_event
from bot.store.models import AuditEvent
from bot.store.tables import request_approvals

c = request_approvals.c


@dataclass(frozen=True, slots=True)
class Approval:
    request_id: str
    approver_id: str
    at: datetime


class ApprovalRepository(Repository):
    async def add(
        self,
        request_id: str,
        approver_id: str,
        *,
        account: str,
        required: int,
        now: datetime | None = None,
    ) -> list[Approval] | None:
        """Record `approver_id`'s approval; the approvals so far (oldest first), or None
        when this approver had already approved."""
        at = self._now(now)
        insert = (
            self._insert(request_approvals)
            .values(request_id=request_id, approver_id=approver_id, at=at)
            .on_conflict_do_nothing(index_elements=[c.request_id, c.approver_id])
            .returning(c.id)
        )
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Serialise the approvals of one request, so that each count sees every
                # earlier one (READ COMMITTED would let concurrent approvers each count
                # only themselves, and no one would reach `required`). SQLite's single
                # writer does the same by itself.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"approvals:{request_id}"},
                )
            if (await conn.execute(insert)).first() is None:
                return None
            approvals = await self._list(conn, request_id)
            await insert_event(
                conn,
                at=at,
                account=account,
                event=AuditEvent.APPROVAL,
                actor=approver_id,
                request_id=request_id,
                details={"count": len(approvals), "required": required},
            )
        return approvals

    async def for_request(self, request_id: str) -> list[Approval]:
        async with self._engine.connect() as conn:
            return await self._list(conn, request_id)

    @staticmethod
    async def _list(conn: AsyncConnection, request_id: str) -> list[Approval]:
        query = select(request_approvals).where(c.request_id == request_id).order_by(c.id)
        rows = (await conn.execute(query)).mappings().all()
        return [Approval(r["request_id"], r["approver_id"], r["at"]) for r in rows]
