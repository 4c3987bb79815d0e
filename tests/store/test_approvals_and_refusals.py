"""Approvals per request (one per approver, across replicas) and recorded week refusals."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.store import Database
from tests.support.databases import FakeClock


async def test_each_approver_counts_once_across_replicas(
    db: Database, replica: Database, clock: FakeClock
) -> None:
    async def approve(i: int, approver: str) -> object:
        repo = (db if i % 2 else replica).approvals
        return await repo.add("r-abcd1234", approver, account="acct", required=2)

    same = await asyncio.gather(*(approve(i, "UA") for i in range(20)))
    assert sum(1 for r in same if r is not None) == 1
    distinct = await asyncio.gather(*(approve(i, f"U{i}") for i in range(10)))
    counts = sorted(len(r) for r in distinct if isinstance(r, list))
    assert counts == list(range(2, 12))  # every distinct approver counted exactly once
    listed = await db.approvals.for_request("r-abcd1234")
    assert listed[0].approver_id == "UA" and len(listed) == 11
    assert await db.approvals.for_request("r-other000") == []
    page = await db.audit.page("acct", page_size=100)
    assert [e.event for e in page.entries].count("approval") == 11


async def test_week_refusals_are_stored_newest_first(db: Database, clock: FakeClock) -> None:
    last = clock.now - timedelta(days=3)
    await db.week_refusals.record(
        "acct", refused_at=clock.now, last_change_at=last, request_id=None
    )
    clock.advance(timedelta(days=1))
    await db.week_refusals.record(
        "acct", refused_at=clock.now, last_change_at=last, request_id="r-abcd1234"
    )
    refusals = await db.week_refusals.list("acct")
    assert [r.request_id for r in refusals] == ["r-abcd1234", None]
    assert refusals[0].refused_at - refusals[0].last_change_at == timedelta(days=4)
    assert await db.week_refusals.list("other") == []
