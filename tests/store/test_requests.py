from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.store import Database
from bot.store.errors import RequestAlreadyOpen
from bot.store.models import AuditEvent, ChangeRequest, NewAuditEvent
from bot.store.request_states import IllegalTransition, RequestState, sources_for
from tests.support.databases import FakeClock

S = RequestState


async def make_request(db: Database, account: str = "default", **extra: object) -> ChangeRequest:
    fields: dict[str, object] = {
        "account": account,
        "requester_id": "U1",
        "reason": "ISP moved us",
        "current_primary": "1.1.1.1",
        "current_secondary": None,
        "proposed_primary": "8.8.8.8",
        "proposed_secondary": "8.8.4.4",
        "expires_at": db.clock() + timedelta(hours=24),
    }
    fields.update(extra)
    return await db.requests.create(**fields)  # type: ignore[arg-type]


async def test_create_and_get(db: Database, clock: FakeClock) -> None:
    created = await make_request(db, audit=NewAuditEvent(AuditEvent.REQUESTED, "U1", {"a": 1}))
    assert created.id.startswith("r-") and len(created.id) == 10
    assert created.state is S.PENDING and created.version == 1
    assert created.created_at == clock.now and created.created_at.tzinfo is not None
    assert await db.requests.get(created.id) == created
    assert await db.requests.get_open("default") == created
    assert await db.requests.list_open() == [created]
    history = await db.audit.list_for_request(created.id)
    assert [(e.event, e.actor, e.details) for e in history] == [("requested", "U1", {"a": 1})]


async def test_second_open_request_is_refused(db: Database) -> None:
    first = await make_request(db)
    with pytest.raises(RequestAlreadyOpen) as info:
        await make_request(db)
    assert info.value.existing_id == first.id
    # Another account is independent.
    await make_request(db, account="other")
    # Once closed, a new request may be made.
    assert await db.requests.transition(first.id, S.PENDING, S.CANCELLED) is not None
    second = await make_request(db)
    assert second.id != first.id


async def test_concurrent_creates_across_replicas_make_exactly_one(
    db: Database, replica: Database
) -> None:
    results = await asyncio.gather(
        *(make_request(db if i % 2 else replica) for i in range(10)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, ChangeRequest)]
    refused = [r for r in results if isinstance(r, RequestAlreadyOpen)]
    assert len(created) == 1 and len(refused) == 9
    assert {r.existing_id for r in refused} == {created[0].id}


async def test_transition_writes_fields_and_bumps_version(db: Database, clock: FakeClock) -> None:
    request = await make_request(db)
    clock.advance(timedelta(minutes=5))
    approved = await db.requests.transition(
        request.id,
        S.PENDING,
        S.APPROVED,
        decided_by="U2",
        decided_at=clock.now,
        audit=NewAuditEvent(AuditEvent.APPROVED, "U2"),
    )
    assert approved is not None
    assert (approved.state, approved.decided_by, approved.version) == (S.APPROVED, "U2", 2)
    assert approved.decided_at == clock.now == approved.updated_at
    assert approved.is_open and await db.requests.get_open("default") == approved
    applying = await db.requests.transition(request.id, S.APPROVED, S.APPLYING)
    assert applying is not None and applying.decided_by == "U2"
    applied = await db.requests.transition(
        request.id, S.APPLYING, S.APPLIED, applied_at=clock.now, expected_version=3
    )
    assert applied is not None and applied.version == 4 and not applied.is_open
    assert await db.requests.get_open("default") is None
    events = [e.event for e in await db.audit.list_for_request(request.id)]
    assert events == ["approved"]


async def test_transition_from_wrong_state_or_version_changes_nothing(db: Database) -> None:
    request = await make_request(db)
    assert await db.requests.transition(request.id, S.APPROVED, S.APPLYING) is None
    assert (
        await db.requests.transition(request.id, S.PENDING, S.APPROVED, expected_version=7) is None
    )
    assert await db.requests.transition("r-missing", S.PENDING, S.APPROVED) is None
    assert await db.requests.get(request.id) == request


async def test_failed_audit_is_not_written_for_losers(db: Database) -> None:
    request = await make_request(db)
    audit = NewAuditEvent(AuditEvent.REJECTED, "U3")
    assert await db.requests.transition(request.id, S.PENDING, S.REJECTED, audit=audit)
    assert await db.requests.transition(request.id, S.PENDING, S.REJECTED, audit=audit) is None
    assert len(await db.requests.list_in_state(S.REJECTED)) == 1
    assert [e.event for e in await db.audit.list_for_request(request.id)] == ["rejected"]


async def test_illegal_transition_is_a_programming_error(db: Database) -> None:
    request = await make_request(db)
    with pytest.raises(IllegalTransition):
        await db.requests.transition(request.id, S.PENDING, S.APPLIED)
    with pytest.raises(IllegalTransition):
        await db.requests.transition(request.id, S.APPLIED, S.PENDING)


async def test_twenty_tasks_race_to_approve_exactly_one_wins(db: Database) -> None:
    request = await make_request(db)

    async def approve(i: int) -> ChangeRequest | None:
        return await db.requests.transition(
            request.id,
            S.PENDING,
            S.APPROVED,
            decided_by=f"U{i}",
            audit=NewAuditEvent(AuditEvent.APPROVED, f"U{i}"),
        )

    results = await asyncio.gather(*(approve(i) for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = await db.requests.get(request.id)
    assert stored == winners[0] and stored.version == 2
    assert [e.actor for e in await db.audit.list_for_request(request.id)] == [stored.decided_by]


async def test_two_replicas_race_approve_and_reject_exactly_one_wins(
    db: Database, replica: Database
) -> None:
    request = await make_request(db)

    async def decide(i: int) -> ChangeRequest | None:
        target = S.APPROVED if i % 2 else S.REJECTED
        return await (db if i % 3 else replica).requests.transition(
            request.id,
            sources_for(S.APPROVED) & sources_for(S.REJECTED),
            target,
            decided_by=f"U{i}",
        )

    results = await asyncio.gather(*(decide(i) for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await replica.requests.get(request.id) == winners[0]


async def test_list_expired_pending_and_in_state(db: Database, clock: FakeClock) -> None:
    soon = await make_request(db, account="a", expires_at=clock.now + timedelta(minutes=1))
    later = await make_request(db, account="b", expires_at=clock.now + timedelta(hours=1))
    approved = await make_request(db, account="c", expires_at=clock.now + timedelta(minutes=1))
    await db.requests.transition(approved.id, S.PENDING, S.APPROVED)
    assert await db.requests.list_expired_pending() == []
    clock.advance(timedelta(minutes=1))
    assert [r.id for r in await db.requests.list_expired_pending()] == [soon.id]
    assert [
        r.id for r in await db.requests.list_expired_pending(clock.now + timedelta(days=1))
    ] == [
        soon.id,
        later.id,
    ]
    assert [r.id for r in await db.requests.list_in_state(S.APPROVED)] == [approved.id]
    assert len(await db.requests.list_open(account="b")) == 1


async def test_set_card(db: Database) -> None:
    request = await make_request(db)
    updated = await db.requests.set_card(request.id, "C1", "1700000000.000100")
    assert updated is not None and (updated.card_channel, updated.card_ts) == (
        "C1",
        "1700000000.000100",
    )
    assert updated.state is S.PENDING
