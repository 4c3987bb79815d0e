"""Single-use OAuth `state` nonces binding a login to a Slack user."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from bot.store._base import Repository
from bot.store.models import OAuthState
from bot.store.tables import oauth_states

c = oauth_states.c


class OAuthStateRepository(Repository):
    async def create(
        self,
        account: str,
        slack_user_id: str,
        *,
        ttl: timedelta,
        now: datetime | None = None,
        app: str = "default",
    ) -> OAuthState:
        at = self._now(now)
        query = (
            oauth_states.insert()
            .values(
                nonce=secrets.token_urlsafe(32),
                account=account,
                slack_user_id=slack_user_id,
                created_at=at,
                expires_at=at + ttl,
                app=app,
            )
            .returning(*oauth_states.c)
        )
        async with self._engine.begin() as conn:
            return OAuthState.from_row((await conn.execute(query)).mappings().one())

    async def consume(self, nonce: str, *, now: datetime | None = None) -> OAuthState | None:
        """The state if it exists, is unexpired and unused; exactly one caller ever gets it."""
        at = self._now(now)
        query = (
            oauth_states.update()
            .where(c.nonce == nonce, c.consumed_at.is_(None), c.expires_at > at)
            .values(consumed_at=at)
            .returning(*oauth_states.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else OAuthState.from_row(row)

    async def get(self, nonce: str) -> OAuthState | None:
        """Read-only: tells a reused state from an expired or unknown one after `consume`."""
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(oauth_states).where(c.nonce == nonce)))
                .mappings()
                .first()
            )
        return None if row is None else OAuthState.from_row(row)

    async def purge(self, expired_before: datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(oauth_states).where(c.expires_at < expired_before))
        return result.rowcount
