"""Change requests: create one per account at a time, move them by atomic transitions."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.ist import Clock
from bot.store._base import Repository, SharedReads
from bot.store.audit import insert_event
from bot.store.errors import RequestAlreadyOpen
from bot.store.models import ChangeRequest, NewAuditEvent
from bot.store.request_states import OPEN_STATES, RequestState, check_transition, is_open
from bot.store.tables import change_requests

# No 0/o, 1/l/i: people read these ids aloud and type them into `/staticip cancel`.
_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_ID_LENGTH = 8  # 31**8 ≈ 8.5e11
_ID_ATTEMPTS = 5

c = change_requests.c


def new_id(prefix: str) -> str:
    """`<prefix>-` and 8 characters nobody misreads aloud."""
    return f"{prefix}-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def new_request_id() -> str:
    return new_id("r")


class RequestRepository(Repository):
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        super().__init__(engine, clock)
        # `list_open` is asked by every `show`, `status`, Home refresh and drift check.
        self._open_reads: SharedReads[list[ChangeRequest]] = SharedReads()

    async def create(
        self,
        *,
        account: str,
        requester_id: str,
        reason: str,
        current_primary: str | None,
        current_secondary: str | None,
        proposed_primary: str,
        proposed_secondary: str | None,
        expires_at: datetime,
        now: datetime | None = None,
        audit: NewAuditEvent | None = None,
        scheduled_at: datetime | None = None,
        move_id: str | None = None,
    ) -> ChangeRequest:
        """Insert a pending request, or raise `RequestAlreadyOpen`.

        The unique `open_slot` index decides races between replicas; `audit`, if given,
        is appended in the same transaction.
        """
        at = self._now(now)
        try:
            return await self._insert_pending(
                account=account,
                at=at,
                audit=audit,
                values={
                    "requester_id": requester_id,
                    "reason": reason,
                    "current_primary": current_primary,
                    "current_secondary": current_secondary,
                    "proposed_primary": proposed_primary,
                    "proposed_secondary": proposed_secondary,
                    "expires_at": expires_at,
                    "scheduled_at": scheduled_at,
                    "move_id": move_id,
                },
            )
        finally:
            self._open_reads.written()

    async def _insert_pending(
        self, *, account: str, at: datetime, audit: NewAuditEvent | None, values: dict[str, Any]
    ) -> ChangeRequest:
        fields = values
        for _ in range(_ID_ATTEMPTS):
            values = {
                **fields,
                "id": new_request_id(),
                "account": account,
                "state": RequestState.PENDING.value,
                "created_at": at,
                "version": 1,
                "updated_at": at,
                "open_slot": account,
            }
            try:
                async with self._engine.begin() as conn:
                    result = await conn.execute(
                        change_requests.insert().values(values).returning(*change_requests.c)
                    )
                    created = ChangeRequest.from_row(result.mappings().one())
                    if audit is not None:
                        await self._audit(conn, created, audit, at)
                    return created
            except IntegrityError:
                existing = await self.get_open(account)
                if existing is not None:
                    raise RequestAlreadyOpen(account, existing.id) from None
                # Either an id collision (retry with a new id) or the open request closed
                # between our insert and the look-up (retrying is right then too).
        raise RuntimeError("could not allocate a unique request id")

    async def get(self, request_id: str) -> ChangeRequest | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(change_requests).where(c.id == request_id)))
                .mappings()
                .first()
            )
        return None if row is None else ChangeRequest.from_row(row)

    async def in_move(self, move_id: str) -> list[ChangeRequest]:
        """Every account's request of a host move."""
        query = select(change_requests).where(c.move_id == move_id).order_by(c.created_at, c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ChangeRequest.from_row(r) for r in rows]

    async def get_open(self, account: str) -> ChangeRequest | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(change_requests).where(c.open_slot == account)))
                .mappings()
                .first()
            )
        return None if row is None else ChangeRequest.from_row(row)

    async def list_open(self, account: str | None = None) -> list[ChangeRequest]:
        """The open requests, oldest first. Concurrent callers share one query
        (`SharedReads`: never one that began before this process's last write)."""
        shared = await self._open_reads.read(
            account, lambda: self.list_in_state(OPEN_STATES, account=account)
        )
        return list(shared)  # each caller its own list (the requests are frozen)

    async def list_in_state(
        self,
        states: RequestState | Iterable[RequestState],
        *,
        account: str | None = None,
    ) -> list[ChangeRequest]:
        wanted = [states] if isinstance(states, RequestState) else list(states)
        query = (
            select(change_requests)
            .where(c.state.in_([s.value for s in wanted]))
            .order_by(c.created_at, c.id)
        )
        if account is not None:
            query = query.where(c.account == account)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ChangeRequest.from_row(r) for r in rows]

    async def list_expired_pending(self, now: datetime | None = None) -> list[ChangeRequest]:
        query = (
            select(change_requests)
            .where(c.state == RequestState.PENDING.value, c.expires_at <= self._now(now))
            .order_by(c.expires_at, c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ChangeRequest.from_row(r) for r in rows]

    async def transition(
        self,
        request_id: str,
        from_states: RequestState | Iterable[RequestState],
        to_state: RequestState,
        *,
        now: datetime | None = None,
        expected_version: int | None = None,
        decided_by: str | None = None,
        decided_at: datetime | None = None,
        applied_at: datetime | None = None,
        failure_reason: str | None = None,
        scheduled_at: datetime | None = None,
        expires_at: datetime | None = None,
        audit: NewAuditEvent | None = None,
        correction: bool = False,
    ) -> ChangeRequest | None:
        """Move the request to `to_state` if it is in one of `from_states`, atomically.
        (`correction`: also one of the `CORRECTIONS` out of a terminal state.)

        One conditional UPDATE ... RETURNING: of any number of concurrent callers (in any
        replica) exactly one gets the updated request back, the others get None and
        should `get()` it to tell the user who won. Only non-None fields are written.
        `audit`, if given, is appended in the same transaction, only by the winner.
        """
        sources = (
            frozenset({from_states})
            if isinstance(from_states, RequestState)
            else frozenset(from_states)
        )
        check_transition(sources, to_state, correction=correction)
        at = self._now(now)
        values: dict[str, Any] = {
            "state": to_state.value,
            "version": c.version + 1,
            "updated_at": at,
        }
        if not is_open(to_state):
            values["open_slot"] = None
        optional = {
            "decided_by": decided_by,
            "decided_at": decided_at,
            "applied_at": applied_at,
            "failure_reason": failure_reason,
            "scheduled_at": scheduled_at,
            "expires_at": expires_at,
        }
        values.update({k: v for k, v in optional.items() if v is not None})
        query = (
            change_requests.update()
            .where(c.id == request_id, c.state.in_([s.value for s in sources]))
            .values(values)
            .returning(*change_requests.c)
        )
        if expected_version is not None:
            query = query.where(c.version == expected_version)
        try:
            async with self._engine.begin() as conn:
                row = (await conn.execute(query)).mappings().first()
                if row is None:
                    return None
                updated = ChangeRequest.from_row(row)
                if audit is not None:
                    await self._audit(conn, updated, audit, at)
                return updated
        finally:
            self._open_reads.written()

    async def set_card(
        self, request_id: str, channel: str, ts: str, *, now: datetime | None = None
    ) -> ChangeRequest | None:
        """Remember where the approval card was posted (to update it in place later)."""
        query = (
            change_requests.update()
            .where(c.id == request_id)
            .values(card_channel=channel, card_ts=ts, updated_at=self._now(now))
            .returning(*change_requests.c)
        )
        try:
            async with self._engine.begin() as conn:
                row = (await conn.execute(query)).mappings().first()
        finally:
            self._open_reads.written()
        return None if row is None else ChangeRequest.from_row(row)

    @staticmethod
    async def _audit(
        conn: AsyncConnection, request: ChangeRequest, audit: NewAuditEvent, at: datetime
    ) -> None:
        await insert_event(
            conn,
            at=at,
            account=request.account,
            event=audit.event,
            actor=audit.actor,
            request_id=request.id,
            details=audit.details,
        )
