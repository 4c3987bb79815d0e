"""History at scale: seed audit events in bulk, then time a page of the audit trail."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.database import Database, open_database
from bot.store.models import AuditEvent, AuditPage, dump_details
from bot.store.tables import audit_events

_EVENTS = [AuditEvent.REQUESTED, AuditEvent.APPROVED, AuditEvent.APPLYING, AuditEvent.APPLIED]
_CHUNK = 5_000


async def seed_audit(url: str, account: str, count: int, secret_key: str) -> float:
    """Append `count` events for `account` (a week of one change every ~6 s, oldest first);
    returns the seconds it took."""
    started = time.monotonic()
    db = await open_database(url, secret_key=secret_key)
    first = datetime(2026, 1, 5, tzinfo=UTC)
    try:
        for offset in range(0, count, _CHUNK):
            rows = [
                {
                    "at": first + timedelta(seconds=6 * i),
                    "account": account,
                    "request_id": f"r{i // 4:031d}",
                    "event": str(_EVENTS[i % 4]),
                    "actor": "UREQUESTER" if i % 4 == 0 else "UAPPROVER1",
                    "details": dump_details(
                        {"primary_ip": "203.0.113.10", "secondary_ip": "198.51.100.7"}
                    ),
                }
                for i in range(offset, min(offset + _CHUNK, count))
            ]
            async with db.engine.begin() as conn:
                await conn.execute(audit_events.insert(), rows)
    finally:
        await db.close()
    return time.monotonic() - started


async def time_pages(
    url: str, account: str, *, pages: list[int], page_size: int, repeats: int, secret_key: str
) -> dict[int, list[float]]:
    """Seconds per read of each history page in `pages` on one warm connection pool (one
    warm-up read each), the pages read in turn so that they meet the same machine (an
    autovacuum of the freshly seeded table, another process) rather than one after another.

    Page 1 is `db.audit.page`, as `/staticip history` reads it. A later page is read as the
    Older button reads it: `db.audit.older` with the cursor the page before it ends at (the
    cursor is looked up once, untimed), so this times the keyset read, not OFFSET.
    """
    db = await open_database(url, secret_key=secret_key, create_schema=False)
    try:
        reads = {page: await _reader(db, account, page, page_size) for page in pages}
        for read in reads.values():
            await read()
        timings: dict[int, list[float]] = {page: [] for page in pages}
        for _ in range(repeats):
            for page, read in reads.items():
                started = time.monotonic()
                result = await read()
                timings[page].append(time.monotonic() - started)
                if result is None or not result.entries:
                    raise RuntimeError(f"history page {page} came back empty")
    finally:
        await db.close()
    return timings


async def _reader(
    db: Database, account: str, page: int, page_size: int
) -> Callable[[], Awaitable[AuditPage | None]]:
    if page == 1:

        async def first() -> AuditPage | None:
            return await db.audit.page(account, page=1, page_size=page_size)

        return first
    before = await _cursor_before(db, account, page=page, page_size=page_size)

    async def older() -> AuditPage | None:
        return await db.audit.older(account, before=before, page=page, page_size=page_size)

    return older


async def _cursor_before(db: Database, account: str, *, page: int, page_size: int) -> int:
    """The id of the oldest event on page `page - 1`: what its Older button carries."""
    query = (
        select(audit_events.c.id)
        .where(audit_events.c.account == account)
        .order_by(audit_events.c.id.desc())
        .offset((page - 1) * page_size - 1)
        .limit(1)
    )
    async with db.engine.connect() as conn:
        before = (await conn.execute(query)).scalar_one_or_none()
    if before is None:
        raise RuntimeError(f"there is no history page {page}")
    return int(before)
