"""Concurrent display reads share one query, never one older than this process's write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.store import Database
from bot.store.request_states import RequestState
from tests.store.test_requests import make_request
from tests.support.databases import statements_sent


@contextmanager
def selects_of(db: Database, table: str) -> Iterator[list[str]]:
    """Every SELECT on `table` that reaches the database while the block runs."""
    with statements_sent(db.engine) as sent:
        yield sent
    sent[:] = [s for s in sent if s.upper().startswith("SELECT") and f"FROM {table}" in s]


async def test_fifty_concurrent_list_open_make_one_query(db: Database) -> None:
    created = await make_request(db)
    with selects_of(db, "change_requests") as seen:
        results = await asyncio.gather(*(db.requests.list_open("default") for _ in range(50)))
    assert len(seen) == 1
    assert all(result == [created] for result in results)
    results[0].clear()  # one caller's list is its own
    assert results[1] == [created]


async def test_a_read_after_a_write_never_joins_a_query_begun_before_it(db: Database) -> None:
    created = await make_request(db)
    original = db.requests.list_in_state
    release = asyncio.Event()
    started = [asyncio.Event(), asyncio.Event()]
    queries = 0

    async def held_first(*args: Any, **kwargs: Any) -> Any:
        nonlocal queries
        queries += 1
        started[min(queries, 2) - 1].set()
        if queries == 1:
            await release.wait()  # the first read is still in flight during the write
        return await original(*args, **kwargs)

    db.requests.list_in_state = held_first  # type: ignore[method-assign]
    before = asyncio.ensure_future(db.requests.list_open("default"))
    await asyncio.wait_for(started[0].wait(), 5)
    await db.requests.transition(created.id, RequestState.PENDING, RequestState.CANCELLED)
    after = asyncio.ensure_future(db.requests.list_open("default"))
    # A query of its own, not the one begun before the write (which is still held).
    await asyncio.wait({after, asyncio.ensure_future(started[1].wait())}, timeout=5)
    assert queries == 2
    release.set()
    assert await after == []
    await before


async def test_accounts_do_not_share_and_sequential_reads_are_fresh(db: Database) -> None:
    desk = await make_request(db, "desk")
    family = await make_request(db, "family")
    with selects_of(db, "change_requests") as seen:
        got_desk, got_family = await asyncio.gather(
            db.requests.list_open("desk"), db.requests.list_open("family")
        )
        again = await db.requests.list_open("desk")
    assert (got_desk, got_family, again) == ([desk], [family], [desk])
    assert len(seen) == 3  # nothing is cached once a query has returned


async def test_week_refusals_are_shared_and_a_recorded_one_is_seen_at_once(
    db: Database,
) -> None:
    now = db.clock()
    with selects_of(db, "week_refusals") as seen:
        empty = await asyncio.gather(*(db.week_refusals.list("default") for _ in range(20)))
        await db.week_refusals.record(
            "default", refused_at=now, last_change_at=now, request_id=None
        )
        after = await db.week_refusals.list("default")
    assert all(r == [] for r in empty)
    assert len(seen) == 2
    assert [r.refused_at for r in after] == [now]


async def test_a_failed_query_reaches_every_waiter_and_the_next_read_retries(
    db: Database,
) -> None:
    await make_request(db)
    original = db.requests.list_in_state
    calls = 0

    async def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0)
            raise ConnectionError("database went away")
        return await original(*args, **kwargs)

    db.requests.list_in_state = failing  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(db.requests.list_open("default") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert len(await db.requests.list_open("default")) == 1
    assert calls == 2
