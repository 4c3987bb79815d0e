from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from bot.store import Database, open_database
from bot.store.models import AuditEvent
from bot.store.tables import audit_events
from tests.support.databases import FakeClock


async def test_history_is_newest_first_and_paginated(db: Database, clock: FakeClock) -> None:
    appended = []
    for i in range(23):
        clock.advance(timedelta(seconds=1))
        account = "default" if i % 4 else "other"
        appended.append(
            await db.audit.append(
                account, AuditEvent.REQUESTED, f"U{i}", request_id=None, details={"i": i}
            )
        )
    mine = [e for e in appended if e.account == "default"]
    newest_first = list(reversed(mine))

    first = await db.audit.page("default", page=1, page_size=5)
    assert first.total == len(mine) == 17 and first.pages == 4 and first.has_next
    assert list(first.entries) == newest_first[:5]
    assert first.entries[0].at == clock.now and first.entries[0].details == {"i": 22}

    pages = [await db.audit.page("default", page=p, page_size=5) for p in range(1, 5)]
    assert [e for p in pages for e in p.entries] == newest_first
    assert not pages[-1].has_next and len(pages[-1].entries) == 2
    beyond = await db.audit.page("default", page=9, page_size=5)
    assert beyond.entries == () and beyond.total == 17

    everything = await db.audit.page(None, page=1, page_size=100)
    assert everything.total == 23 and everything.entries[0] == appended[-1]


async def test_page_arguments_are_checked(db: Database) -> None:
    with pytest.raises(ValueError):
        await db.audit.page("default", page=0)
    with pytest.raises(ValueError):
        await db.audit.page("default", page_size=1000)


def test_audit_log_is_append_only_by_api() -> None:
    from bot.store.audit import AuditLog

    public = {name for name in vars(AuditLog) if not name.startswith("_")}
    assert public == {"append", "page", "list_for_request", "count_since"}  # reads only


async def test_count_since(db: Database, clock: FakeClock) -> None:
    start = clock.now
    await db.audit.append("default", "logged_in", "U1")
    clock.advance(timedelta(minutes=5))
    await db.audit.append("default", "logged_in", "U1")
    await db.audit.append("other", "logged_in", "U1")
    await db.audit.append("default", "alert", "bot")
    assert await db.audit.count_since("default", "logged_in", start) == 2
    assert await db.audit.count_since("default", "logged_in", clock.now) == 1


async def test_history_of_100k_rows_uses_the_index(tmp_path: Path, clock: FakeClock) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'big.db'}", clock=clock)
    try:
        rows = [
            {
                "at": clock.now,
                "account": "default" if i % 2 else "other",
                "event": "requested",
                "actor": "U1",
                "details": "{}",
            }
            for i in range(100_000)
        ]
        async with db.engine.begin() as conn:
            await conn.execute(insert(audit_events), rows)
        page = await db.audit.page("default", page=500, page_size=20)
        assert page.total == 50_000 and len(page.entries) == 20
        assert page.entries[0].id > page.entries[-1].id
        async with db.engine.connect() as conn:
            plans = [
                " ".join(str(r[-1]) for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}"))
                for q in (
                    "SELECT count(*) FROM audit_events WHERE account = 'default'",
                    "SELECT * FROM audit_events WHERE account = 'default' "
                    "ORDER BY id DESC LIMIT 20 OFFSET 9980",
                )
            ]
        assert "COVERING INDEX ix_audit_events_account_id" in plans[0]
        assert "ix_audit_events_account_id" in plans[1] and "TEMP B-TREE" not in plans[1]
    finally:
        await db.close()
