"""Single-use and flip-once primitives, raced inside one process and across two replicas."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.store import Database
from tests.support.databases import FakeClock


async def test_oauth_state_consumed_once_under_concurrency(
    db: Database, replica: Database, clock: FakeClock
) -> None:
    state = await db.oauth_states.create("default", "U1", ttl=timedelta(minutes=10))
    assert len(state.nonce) >= 40
    results = await asyncio.gather(
        *((db if i % 2 else replica).oauth_states.consume(state.nonce) for i in range(20))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].slack_user_id == "U1" and winners[0].consumed_at == clock.now


async def test_oauth_state_expired_or_unknown_is_refused(db: Database, clock: FakeClock) -> None:
    state = await db.oauth_states.create("default", "U1", ttl=timedelta(minutes=10))
    assert await db.oauth_states.consume("nope") is None
    clock.advance(timedelta(minutes=10))
    assert await db.oauth_states.consume(state.nonce) is None
    assert await db.oauth_states.purge(clock.now + timedelta(seconds=1)) == 1


async def test_alert_raise_and_clear_flip_exactly_once_across_replicas(
    db: Database, replica: Database, clock: FakeClock
) -> None:
    async def race(make: str) -> list[bool]:
        calls = []
        for i in range(20):
            repo = (db if i % 2 else replica).alerts
            if make == "raise":
                calls.append(repo.raise_alert("drift:default", details={"ip": "1.2.3.4"}))
            else:
                calls.append(repo.clear_alert("drift:default"))
        return list(await asyncio.gather(*calls))

    for cycle in range(2):  # first raise inserts, second raise flips an existing row
        assert sum(await race("raise")) == 1, cycle
        alert = await db.alerts.get("drift:default")
        assert alert is not None and alert.active and alert.details == {"ip": "1.2.3.4"}
        assert [a.key for a in await replica.alerts.list_active()] == ["drift:default"]
        clock.advance(timedelta(minutes=1))
        assert sum(await race("clear")) == 1, cycle
        alert = await db.alerts.get("drift:default")
        assert alert is not None and not alert.active and alert.cleared_at == clock.now
        clock.advance(timedelta(minutes=1))
    assert not await db.alerts.clear_alert("never-raised")


async def test_alert_reminders_are_claimed_once_per_interval(
    db: Database, replica: Database, clock: FakeClock
) -> None:
    assert await db.alerts.raise_alert("token:default")
    assert not await db.alerts.raise_alert("token:default")
    hour = timedelta(hours=1)
    assert not await db.alerts.claim_repost("token:default", min_interval=hour)
    clock.advance(hour)
    claims = await asyncio.gather(
        *(
            (db if i % 2 else replica).alerts.claim_repost("token:default", min_interval=hour)
            for i in range(10)
        )
    )
    assert sum(claims) == 1


async def test_token_requests(db: Database, clock: FakeClock) -> None:
    first = await db.token_requests.create("default", "U1", expires_at=clock.now + timedelta(1))
    assert first.id.startswith("t-")
    assert await db.token_requests.outstanding("default") == [first]
    done = await db.token_requests.complete_outstanding("default")
    assert [r.id for r in done] == [first.id] and done[0].completed_at == clock.now
    assert await db.token_requests.complete_outstanding("default") == []
    assert await db.token_requests.outstanding("default") == []
