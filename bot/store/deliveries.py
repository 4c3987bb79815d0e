"""Token deliveries: what was handed to which consumer, when (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select

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

    async def latest(
        self, account: str, app: str, *, sink: str, outcome: str
    ) -> TokenDelivery | None:
        query = (
            select(token_deliveries)
            .where(c.account == account, c.app == app, c.sink == sink, c.outcome == outcome)
            .order_by(c.id.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else TokenDelivery.from_row(row)

    async def first_pickup(
        self, account: str, app: str, *, token_issued_at: datetime
    ) -> TokenDelivery | None:
        """The first proof that a consumer has the token issued then: a fetch of
        GET /token or a webhook 2xx."""
        query = (
            select(token_deliveries)
            .where(
                c.account == account,
                c.app == app,
                c.token_issued_at == token_issued_at,
                or_(
                    and_(c.sink == "api", c.outcome == "fetched"),
                    and_(c.sink == "webhook", c.outcome == "delivered"),
                ),
            )
            .order_by(c.id)
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else TokenDelivery.from_row(row)

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
