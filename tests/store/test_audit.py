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
    assert first.has_older and first.cursor == newest_first[4].id
    assert list(first.entries) == newest_first[:5]
    assert first.entries[0].at == clock.now and first.entries[0].details == {"i": 22}

    # The typed page numbers (OFFSET) and the Older cursor (keyset) walk the same pages.
    by_number = [await db.audit.page("default", page=p, page_size=5) for p in range(1, 5)]
    by_cursor = [first]
    while by_cursor[-1].cursor is not None:
        last = by_cursor[-1]
        older = await db.audit.older("default", before=last.cursor, page=last.page + 1, page_size=5)
        assert older is not None
        by_cursor.append(older)
    assert by_cursor == by_number
    assert [e for p in by_cursor for e in p.entries] == newest_first
    assert [p.page for p in by_cursor] == [1, 2, 3, 4]
    assert not by_cursor[-1].has_older and len(by_cursor[-1].entries) == 2
    assert by_cursor[-1].cursor is None

    # Exactly a page's worth left: the page before it still knows there is no older one.
    exact = await db.audit.page("default", page=1, page_size=17)
    assert len(exact.entries) == 17 and not exact.has_older and exact.cursor is None

    beyond = await db.audit.page("default", page=9, page_size=5)
    assert beyond.entries == () and not beyond.has_older
    assert await db.audit.count("default") == 17 and await db.audit.count(None) == 23

    everything = await db.audit.page(None, page=1, page_size=100)
    assert everything.entries[0] == appended[-1] and len(everything.entries) == 23
    everyone_older = await db.audit.older(None, before=appended[10].id, page=2, page_size=100)
    assert everyone_older is not None
    assert list(everyone_older.entries) == list(reversed(appended[:10]))


async def test_a_cursor_that_is_not_the_accounts_event_reads_nothing(
    db: Database, clock: FakeClock
) -> None:
    mine = await db.audit.append("default", AuditEvent.REQUESTED, "U1")
    theirs = await db.audit.append("other", AuditEvent.REQUESTED, "U2")
    await db.audit.append("default", AuditEvent.APPROVED, "U3")
    # Another account's id (with this account's older events below it), an id that was
    # never written, and ids no database has.
    for before in (theirs.id, theirs.id + 100, 0, -1, 2**31 - 1, 2**62):
        assert await db.audit.older("default", before=before, page=2, page_size=5) is None
    older = await db.audit.older("default", before=mine.id, page=2, page_size=5)
    assert older is not None and older.entries == () and not older.has_older


async def test_page_arguments_are_checked(db: Database) -> None:
    with pytest.raises(ValueError):
        await db.audit.page("default", page=0)
    with pytest.raises(ValueError):
        await db.audit.page("default", page_size=1000)
    with pytest.raises(ValueError):
        await db.audit.older("default", before=1, page=2, page_size=0)


def test_audit_log_is_append_only_by_api() -> None:
    from bot.store.audit import AuditLog

    public = {name for name in vars(AuditLog) if not name.startswith("_")}
    assert public == {"append", "page", "older", "count", "list_for_request", "count_since"}


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
        assert len(page.entries) == 20 and page.cursor == page.entries[-1].id
        assert page.entries[0].id > page.entries[-1].id
        assert page.cursor is not None
        older = await db.audit.older("default", before=page.cursor, page=501, page_size=20)
        assert older == await db.audit.page("default", page=501, page_size=20)
        async with db.engine.connect() as conn:
            plans = [
                " ".join(str(r[-1]) for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}"))
                for q in (
                    "SELECT * FROM audit_events WHERE account = 'default' "
                    "ORDER BY id DESC LIMIT 21 OFFSET 9980",
                    "SELECT * FROM audit_events WHERE account = 'default' AND id <= 5001 "
                    "ORDER BY id DESC LIMIT 22",
                )
            ]
        # Both read the (account, id) index backwards with no sort; the keyset one starts
        # at the cursor (a range on id), which is what keeps the last page as cheap as the first.
        assert all("ix_audit_events_account_id" in p and "TEMP B-TREE" not in p for p in plans)
        assert "id<?" in plans[1].replace(" ", "")
    finally:
        await db.close()
