"""Host moves: one request covering several accounts (each account's part is a change
request with `move_id`, see `bot.store.requests`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from bot.store._base import Repository
from bot.store.requests import new_id
from bot.store.tables import host_moves

c = host_moves.c


@dataclass(frozen=True, slots=True)
class HostMove:
    id: str
    requester_id: str
    reason: str
    proposed_primary: str
    proposed_secondary: str | None
    accounts: tuple[str, ...]
    """The account keys named, in the order given (the card's rows)."""
    refused: dict[str, str]
    """Account key → why that account was left out when the move was made."""
    created_at: datetime
    card_channel: str | None
    card_ts: str | None

    @classmethod
    def from_row(cls, row: RowMapping) -> HostMove:
        return cls(
            id=row["id"],
            requester_id=row["requester_id"],
            reason=row["reason"],
            proposed_primary=row["proposed_primary"],
            proposed_secondary=row["proposed_secondary"],
            accounts=tuple(json.loads(row["accounts"] or "[]")),
            refused=dict(json.loads(row["refused"] or "{}")),
            created_at=row["created_at"],
            card_channel=row["card_channel"],
            card_ts=row["card_ts"],
        )


class MoveRepository(Repository):
    async def create(
        self,
        *,
        requester_id: str,
        reason: str,
        proposed_primary: str,
        proposed_secondary: str | None,
        accounts: list[str],
        now: datetime | None = None,
    ) -> HostMove:
        values = {
            "id": new_id("m"),
            "requester_id": requester_id,
            "reason": reason,
            "proposed_primary": proposed_primary,
            "proposed_secondary": proposed_secondary,
            "accounts": json.dumps(accounts),
            "refused": "{}",
            "created_at": self._now(now),
        }
        async with self._engine.begin() as conn:
            row = (
                (await conn.execute(host_moves.insert().values(values).returning(*host_moves.c)))
                .mappings()
                .one()
            )
        return HostMove.from_row(row)

    async def get(self, move_id: str) -> HostMove | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(host_moves).where(c.id == move_id))).mappings().first()
        return None if row is None else HostMove.from_row(row)

    async def settle(
        self, move_id: str, *, refused: dict[str, str], channel: str | None, ts: str | None
    ) -> HostMove | None:
        """Record which accounts were left out, and where the card is."""
        query = (
            host_moves.update()
            .where(c.id == move_id)
            .values(refused=json.dumps(refused), card_channel=channel, card_ts=ts)
            .returning(*host_moves.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else HostMove.from_row(row)
