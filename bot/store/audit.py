"""The append-only audit trail: append and read, nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store._base import Repository
from bot.store.models import AuditEntry, AuditEvent, AuditPage, dump_details
from bot.store.tables import audit_events

MAX_PAGE_SIZE = 100
# `audit_events.id` is an INTEGER: 32 bits on PostgreSQL, which refuses a larger parameter.
MAX_ID = 2**31 - 1


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
        """Page `page` (from 1) newest first; `account=None` lists every account.

        For a page number someone typed, and the first page. It is LIMIT/OFFSET: the
        database steps over the (page - 1) * page_size newer rows, so page 5000 of 100k
        events costs several times page 1 (see `older`, which does not). No COUNT(*): it
        costs as much as reading every row of the account's index and is only asked for
        when a page is empty (`count`).
        """
        if page < 1:
            raise ValueError("page starts at 1")
        _check_size(page_size)
        query = _newest_first(account).limit(page_size + 1).offset((page - 1) * page_size)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return _page(rows, page=page, page_size=page_size)

    async def older(
        self, account: str | None, *, before: int, page: int, page_size: int = 20
    ) -> AuditPage | None:
        """The page after the one whose last (oldest) event is `before`: keyset, so the
        database seeks the (account, id) index to `before` and reads page_size + 2 rows,
        whatever the page (`page` is only the number shown).

        None when `before` is not an event of `account`: a cursor comes back from Slack
        and is checked here, in the same query (the row at `before` must be the account's).
        """
        _check_size(page_size)
        if not 0 < before <= MAX_ID:
            return None
        query = _newest_first(account).where(audit_events.c.id <= before).limit(page_size + 2)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        if not rows or rows[0]["id"] != before:
            return None
        return _page(rows[1:], page=page, page_size=page_size)

    async def count(self, account: str | None) -> int:
        """How many events the account has: reads its whole index range (milliseconds at
        100k rows), so only for the rare answer that needs it."""
        query = select(func.count()).select_from(audit_events)
        if account is not None:
            query = query.where(audit_events.c.account == account)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

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


def _check_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")


def _newest_first(account: str | None) -> Select[Any]:
    """Newest first: served by walking the (account, id) index (the primary key for every
    account) backwards, with no sort."""
    query = select(audit_events).order_by(audit_events.c.id.desc())
    if account is not None:
        query = query.where(audit_events.c.account == account)
    return query


def _page(rows: Sequence[RowMapping], *, page: int, page_size: int) -> AuditPage:
    """`rows`: up to page_size + 1 rows; the one past the page says an older page exists."""
    return AuditPage(
        entries=tuple(AuditEntry.from_row(r) for r in rows[:page_size]),
        page=page,
        page_size=page_size,
        has_older=len(rows) > page_size,
    )
