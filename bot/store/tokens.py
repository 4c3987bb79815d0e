"""The Upstox access token per account and app, encrypted at rest.

The bot's own app (`default`) keeps its token in `tokens` (one row per account, as before
there were several apps); every other app of the account has its row in `app_tokens`,
keyed by (account, app). Every method takes `app`, defaulting to the bot's own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ist import Clock
from bot.store._base import Repository
from bot.store.crypto import TokenCipher
from bot.store.models import StoredToken, TokenSource, TokenState
from bot.store.tables import app_tokens, tokens

c = tokens.c
OWN_APP = "default"


def _table(account: str, app: str) -> tuple[Table, list[ColumnElement[bool]], dict[str, Any]]:
    """The table of the app's token, the row's key condition and its key values."""
    if app == OWN_APP:
        return tokens, [tokens.c.account == account], {"account": account}
    where = [app_tokens.c.account == account, app_tokens.c.app == app]
    return app_tokens, where, {"account": account, "app": app}


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
        app: str = OWN_APP,
    ) -> StoredToken:
        """Store a fresh, valid token (replacing any previous one)."""
        return await self.save_ciphertext(
            account,
            self.cipher.encrypt(access_token),
            obtained_via=obtained_via,
            expires_at=expires_at,
            user_id=user_id,
            obtained_at=obtained_at,
            app=app,
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
        app: str = OWN_APP,
    ) -> StoredToken:
        at = self._now(obtained_at)
        table, _, key = _table(account, app)
        values = {
            **key,
            "ciphertext": ciphertext,
            "state": TokenState.VALID.value,
            "obtained_at": at,
            "expires_at": expires_at,
            "obtained_via": obtained_via.value,
            "user_id": user_id,
            "updated_at": self._clock(),
            "invalidated_reason": None,
        }
        insert = self._insert(table).values(values)
        query = insert.on_conflict_do_update(
            index_elements=[table.c[k] for k in key],
            set_={k: insert.excluded[k] for k in values if k not in key},
        ).returning(*table.c)
        async with self._engine.begin() as conn:
            row = (await conn.execute(query)).mappings().one()
        return StoredToken.from_row(row)

    async def get(self, account: str, app: str = OWN_APP) -> StoredToken | None:
        table, where, _ = _table(account, app)
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(*where))).mappings().first()
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
        app: str = OWN_APP,
    ) -> bool:
        """Mark the valid token dead; True only for the caller that flipped it.

        `obtained_before` protects a token stored after the caller decided the old one was
        dead (e.g. a 401 seen just as someone logged in again).
        """
        if state is TokenState.VALID:
            raise ValueError("invalidate() cannot set a token valid; use save()")
        table, where, _ = _table(account, app)
        query = (
            table.update()
            .where(*where, table.c.state == TokenState.VALID.value)
            .values(state=state.value, invalidated_reason=reason, updated_at=self._now(now))
            .returning(table.c.account)
        )
        if obtained_before is not None:
            query = query.where(table.c.obtained_at < obtained_before)
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None
