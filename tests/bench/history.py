"""History at scale: seed audit events in bulk, then time a page of the audit trail."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bot.store.database import open_database
from bot.store.models import AuditEvent, dump_details
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
    url: str, account: str, *, page: int, page_size: int, repeats: int, secret_key: str
) -> list[float]:
    """Seconds per `db.audit.page(...)` call on a warm connection pool (one warm-up call)."""
    db = await open_database(url, secret_key=secret_key, create_schema=False)
    try:
        await db.audit.page(account, page=page, page_size=page_size)
        timings = []
        for _ in range(repeats):
            started = time.monotonic()
            result = await db.audit.page(account, page=page, page_size=page_size)
            timings.append(time.monotonic() - started)
            if not result.entries:
                raise RuntimeError(f"history page {page} came back empty")
    finally:
        await db.close()
    return timings
