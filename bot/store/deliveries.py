"""Token deliveries: what was handed to which consumer, when (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.store._base import Repository
from bot.store.models import TokenDelivery
from bot.store.tables import token_deliveries

c = token_deliveries.c


class DeliveryRepository(Repository):
    async def record(
        self,
        *,
        account: str,
        app: str,
        sink: str,
        outcome: str,
        token_issued_at: datetime | None,
        attempt: int = 1,
        detail: str | None = None,
        key_fingerprint: str | None = None,
        at: datetime | None = None,
    ) -> TokenDelivery:
        query = (
            token_deliveries.insert()
            .values(
                account=account,
                app=app,
                sink=sink,
                outcome=outcome,
                token_issued_at=token_issued_at,
                at=self._now(at),
                attempt=attempt,
                detail=detail,
                key_fingerprint=key_fingerprint,
            )
            .returning(*token_deliveries.c)
        )
        async with self._engine.begin() as conn:
            return TokenDelivery.from_row((await conn.execute(query)).mappings().one())

    async def latest_per_sink(self, account: str, app: str) -> dict[str, TokenDelivery]:
        """The newest record of each sink of one app."""
        newest = (
            select(func.max(c.id))
            .where(c.account == account, c.app == app)
            .group_by(c.sink)
            .scalar_subquery()
        )
        query = select(token_deliveries).where(c.id.in_(newest))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {row["sink"]: TokenDelivery.from_row(row) for row in rows}

    async def history(
        self, account: str, app: str, *, sink: str | None = None, outcome: str | None = None
    ) -> list[TokenDelivery]:
        """Oldest first."""
        query = select(token_deliveries).where(c.account == account, c.app == app)
        if sink is not None:
            query = query.where(c.sink == sink)
        if outcome is not None:
            query = query.where(c.outcome == outcome)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(c.id))).mappings().all()
        return [TokenDelivery.from_row(r) for r in rows]
