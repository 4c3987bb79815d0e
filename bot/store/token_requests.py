"""Outstanding Upstox Access Token Requests (the token arrives later on the notifier)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from bot.store._base import Repository
from bot.store.models import TokenRequest
from bot.store.tables import token_requests

c = token_requests.c


class TokenRequestRepository(Repository):
    async def create(
        self,
        account: str,
        requested_by: str,
        *,
        expires_at: datetime,
        now: datetime | None = None,
        app: str = "default",
    ) -> TokenRequest:
        query = (
            token_requests.insert()
            .values(
                id="t-" + secrets.token_hex(6),
                account=account,
                requested_by=requested_by,
                created_at=self._now(now),
                expires_at=expires_at,
                app=app,
            )
            .returning(*token_requests.c)
        )
        async with self._engine.begin() as conn:
            return TokenRequest.from_row((await conn.execute(query)).mappings().one())

    async def outstanding(
        self, account: str, *, now: datetime | None = None, app: str = "default"
    ) -> list[TokenRequest]:
        query = (
            select(token_requests)
            .where(
                c.account == account,
                c.app == app,
                c.completed_at.is_(None),
                c.expires_at > self._now(now),
            )
            .order_by(c.created_at)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [TokenRequest.from_row(r) for r in rows]

    async def complete_outstanding(
        self, account: str, *, now: datetime | None = None, app: str = "default"
    ) -> list[TokenRequest]:
        """Close every outstanding request of the account's app; returns those this call
        closed."""
        at = self._now(now)
        query = (
            token_requests.update()
            .where(c.account == account, c.app == app, c.completed_at.is_(None), c.expires_at > at)
            .values(completed_at=at)
            .returning(*token_requests.c)
        )
        async with self._engine.begin() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [TokenRequest.from_row(r) for r in rows]
