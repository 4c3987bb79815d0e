"""The Upstox access token per account, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ist import Clock
from bot.store._base import Repository
from bot.store.crypto import TokenCipher
from bot.store.models import StoredToken, TokenSource, TokenState
from bot.store.tables import tokens

c = tokens.c


class TokenRepository(Repository):
    def __init__(self, engine: AsyncEngine, clock: Clock, cipher: TokenCipher | None) -> None:
        super().__init__(engine, clock)
        self._cipher = cipher

    @property
    def cipher(self) -> TokenCipher:
        if self._cipher is None:
            raise RuntimeError("no secret key configured: open_database(..., secret_key=...)")
        return self._cipher

    async def save(
        self,
        account: str,
        access_token: str,
        *,
        obtained_via: TokenSource,
        expires_at: datetime,
        user_id: str | None = None,
        obtained_at: datetime | None = None,
    ) -> StoredToken:
        """Store a fresh, valid token (replacing any previous one)."""
        return await self.save_ciphertext(
            account,
            self.cipher.encrypt(access_token),
            obtained_via=obtained_via,
            expires_at=expires_at,
            user_id=user_id,
            obtained_at=obtained_at,
        )

    async def save_ciphertext(
        self,
        account: str,
        ciphertext: bytes,
        *,
        obtained_via: TokenSource,
        expires_at: datetime,
        user_id: str | None = None,
        obtained_at: datetime | None = None,
    ) -> StoredToken:
        at = self._now(obtained_at)
        values = {
            "account": account,
            "ciphertext": ciphertext,
            "state": TokenState.VALID.value,
            "obtained_at": at,
            "expires_at": expires_at,
            "obtained_via": obtained_via.value,
            "user_id": user_id,
            "updated_at": self._clock(),
            "invalidated_reason": None,
        }
        insert = self._insert(tokens).values(values)
        query = insert.on_conflict_do_update(
            index_elements=[c.account],
            set_={k: insert.excluded[k] for k in values if k != "account"},
        ).returning(*tokens.c)
        async with self._engine.begin() as conn:
            row = (await conn.execute(query)).mappings().one()
        return StoredToken.from_row(row)

    async def get(self, account: str) -> StoredToken | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(tokens).where(c.account == account))).mappings().first()
            )
        return None if row is None else StoredToken.from_row(row)

    async def record_user(self, account: str, user_id: str, *, obtained_at: datetime) -> bool:
        """Fill in the Upstox user of a token stored without one (a seeded token). Only
        that very token (same `obtained_at`) and only while it has none: True if set."""
        query = (
            tokens.update()
            .where(c.account == account, c.user_id.is_(None), c.obtained_at == obtained_at)
            .values(user_id=user_id, updated_at=self._clock())
            .returning(c.account)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None

    def decrypt(self, token: StoredToken) -> str:
        """The plaintext token; raises `TokenUndecryptable` (without secrets in it)."""
        return self.cipher.decrypt(token.ciphertext)

    async def invalidate(
        self,
        account: str,
        reason: str,
        *,
        state: TokenState = TokenState.INVALIDATED,
        obtained_before: datetime | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Mark the valid token dead; True only for the caller that flipped it.

        `obtained_before` protects a token stored after the caller decided the old one was
        dead (e.g. a 401 seen just as someone logged in again).
        """
        if state is TokenState.VALID:
            raise ValueError("invalidate() cannot set a token valid; use save()")
        query = (
            tokens.update()
            .where(c.account == account, c.state == TokenState.VALID.value)
            .values(state=state.value, invalidated_reason=reason, updated_at=self._now(now))
            .returning(c.account)
        )
        if obtained_before is not None:
            query = query.where(c.obtained_at < obtained_before)
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None
