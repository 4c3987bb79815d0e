"""The Upstox access token's life: seeded, used, found dead, replaced.

A token dies when the IPs change (every token is invalidated), when Upstox answers 401,
and at 03:30 IST the day after it was issued. Whoever notices first flips the stored state
(atomically, in the database). This module only *records*: it never posts. The alert is
posted by the flow that owns it — the apply flow after a change, the watcher's token
check otherwise — so a read (`/staticip status`) never says anything in the channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import SecretStr

from bot.errors import UserFacingError
from bot.ist import Clock, format_ist, next_token_expiry
from bot.log import redactor
from bot.store.database import Database
from bot.store.errors import TokenUndecryptable
from bot.store.models import AuditEvent, StoredToken, TokenSource, TokenState
from bot.store.tokens import OWN_APP
from bot.upstox_messages import LOGIN_HINT

log = logging.getLogger(__name__)

Health = Literal["valid", "expired", "invalidated", "missing", "unreadable"]


@dataclass(frozen=True, slots=True)
class TokenStatus:
    health: Health
    expires_at: datetime | None = None
    obtained_at: datetime | None = None
    obtained_via: TokenSource | None = None
    user_id: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        """One line for the status message."""
        if self.health == "valid" and self.expires_at is not None:
            return f"logged in, valid until {format_ist(self.expires_at)}"
        if self.health == "expired" and self.expires_at is not None:
            return f"expired at {format_ist(self.expires_at)}"
        if self.health == "invalidated":
            return f"logged out ({self.reason or 'invalidated by Upstox'})"
        if self.health == "unreadable":
            return "the stored token cannot be decrypted (was BOT_SECRET_KEY changed?)"
        return "no token yet"


@dataclass(frozen=True, slots=True)
class TokenDeath:
    state: TokenState
    reason: str


@dataclass(frozen=True, slots=True)
class UsableToken:
    secret: SecretStr
    obtained_at: datetime


class NotLoggedIn(UserFacingError):
    code = "not_logged_in"


_HEALTH: dict[TokenState, Health] = {
    TokenState.VALID: "valid",
    TokenState.EXPIRED: "expired",
    TokenState.INVALIDATED: "invalidated",
}


class TokenService:
    """The token of one Upstox app of the account: the bot's own (`default`, the one the IP
    API is called with) unless `app` names a trading system's app."""

    def __init__(self, db: Database, account: str, clock: Clock, *, app: str = OWN_APP) -> None:
        self._db = db
        self._account = account
        self._clock = clock
        self.app = app

    async def seed(self, token: SecretStr | None) -> None:
        """Store UPSTOX_ACCESS_TOKEN on first start only; a stored token always wins."""
        if token is None or await self._db.tokens.get(self._account) is not None:
            return
        now = self._clock()
        await self._db.tokens.save(
            self._account,
            token.get_secret_value(),
            obtained_via=TokenSource.SEED,
            expires_at=next_token_expiry(now),
            obtained_at=now,
        )
        log.info("seeded the token store from UPSTOX_ACCESS_TOKEN")

    async def record_user(self, user_id: str, token: UsableToken) -> bool:
        """The Upstox user of `token`, learnt after it was stored without one (seeded)."""
        recorded = await self._db.tokens.record_user(
            self._account, user_id, obtained_at=token.obtained_at
        )
        if recorded:
            log.info("the seeded Upstox token belongs to %s", user_id)
        return recorded

    async def status(self) -> TokenStatus:
        status, _ = await self._read()
        return status

    async def current(self) -> tuple[TokenStatus, UsableToken | None]:
        """The status and, while valid, the token itself (for handing it to consumers)."""
        return await self._read()

    async def usable(self) -> UsableToken:
        """The token to call Upstox with, or NotLoggedIn with what happened and what to do."""
        status, token = await self._read()
        if token is None:
            raise NotLoggedIn(self._not_logged_in_message(status))
        return token

    async def _read(self) -> tuple[TokenStatus, UsableToken | None]:
        """One read of the stored token: its status, and the token itself when usable.

        An expired token is recorded as expired here (whoever notices the 03:30 IST expiry
        first); the watcher's token check posts the alert.
        """
        stored = await self._db.tokens.get(self._account, self.app)
        if stored is None:
            return TokenStatus("missing"), None
        if stored.state is TokenState.VALID and self._clock() >= stored.expires_at:
            await self._flip(TokenState.EXPIRED, "the daily 03:30 IST expiry", stored)
            stored = await self._db.tokens.get(self._account, self.app) or stored
        health = _HEALTH[stored.state]
        token = None
        if health == "valid":
            try:
                token = UsableToken(SecretStr(self._decrypt(stored)), stored.obtained_at)
            except TokenUndecryptable:
                health = "unreadable"
        status = TokenStatus(
            health=health,
            expires_at=stored.expires_at,
            obtained_at=stored.obtained_at,
            obtained_via=stored.obtained_via,
            user_id=stored.user_id,
            reason=stored.invalidated_reason,
        )
        return status, token

    async def store(self, token: SecretStr, *, user_id: str | None, via: TokenSource) -> None:
        now = self._clock()
        redactor.add([token.get_secret_value()])
        await self._db.tokens.save(
            self._account,
            token.get_secret_value(),
            obtained_via=via,
            expires_at=next_token_expiry(now),
            user_id=user_id,
            obtained_at=now,
            app=self.app,
        )
        await self._db.audit.append(
            account=self._account,
            event=AuditEvent.LOGGED_IN,
            actor=user_id or "upstox",
            details={"via": via.value, "app": self.app},
        )

    async def mark_dead(
        self, reason: str, *, used: UsableToken | None = None, state: TokenState | None = None
    ) -> bool:
        """Flip a valid token to dead. `used` protects a token stored after that one."""
        stored = await self._db.tokens.get(self._account, self.app)
        if stored is None:
            return False
        return await self._flip(state or TokenState.INVALIDATED, reason, stored, used)

    async def _flip(
        self,
        state: TokenState,
        reason: str,
        stored: StoredToken,
        used: UsableToken | None = None,
    ) -> bool:
        obtained_before = None
        if used is not None:
            obtained_before = used.obtained_at + timedelta(microseconds=1)
        flipped = await self._db.tokens.invalidate(
            self._account,
            reason,
            state=state,
            obtained_before=obtained_before,
            now=self._clock(),
            app=self.app,
        )
        if not flipped:
            return False
        log.warning("Upstox token of app %s is now %s: %s", self.app, state.value, reason)
        await self._db.audit.append(
            account=self._account,
            event=AuditEvent.TOKEN_INVALIDATED,
            actor="bot",
            details={"state": state.value, "reason": reason, "app": self.app},
        )
        return True

    def _decrypt(self, stored: StoredToken) -> str:
        secret = self._db.tokens.decrypt(stored)
        redactor.add([secret])
        return secret

    @staticmethod
    def _not_logged_in_message(status: TokenStatus) -> str:
        if status.health == "missing":
            return f"The bot is not logged in to Upstox yet. {LOGIN_HINT}"
        if status.health == "unreadable":
            return (
                "The stored Upstox token cannot be decrypted (was BOT_SECRET_KEY changed?). "
                f"{LOGIN_HINT}"
            )
        return f"The Upstox session is over: {status.describe()}. {LOGIN_HINT}"
