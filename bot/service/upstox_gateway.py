"""Every Upstox call the bot makes with the stored token goes through here.

It fetches the usable token, and turns what Upstox says about the token into state: a 401
marks it dead, and a successful PUT marks it invalidated (Upstox logs every session out on
a change, whether or not the response says so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from pydantic import SecretStr

from bot.ist import Clock
from bot.service.tokens import TokenService, UsableToken
from bot.store.models import TokenState
from bot.upstox import Profile, StaticIps, StaticIpUpdateResult, UpstoxClient, UpstoxTokenInvalid

T = TypeVar("T")

IP_CHANGE_LOGOUT = "the static IPs were changed, so Upstox logged out every session"


class UpstoxGateway:
    def __init__(self, client: UpstoxClient, tokens: TokenService, clock: Clock) -> None:
        self.client = client
        self._tokens = tokens
        self._clock = clock
        self.last_success_at: datetime | None = None

    async def static_ips(self) -> StaticIps:
        return await self._call(self.client.get_static_ips)

    async def profile(self) -> Profile:
        return await self._call(self.client.get_profile)

    async def update_static_ips(
        self, primary_ip: str, secondary_ip: str | None
    ) -> StaticIpUpdateResult:
        """The one PUT. Never retried here or in the client; see the module docstring."""
        token = await self._tokens.usable()

        async def put(secret: SecretStr) -> StaticIpUpdateResult:
            return await self.client.update_static_ips(secret, primary_ip, secondary_ip)

        result = await self._with_token(token, put)
        await self._tokens.mark_dead(IP_CHANGE_LOGOUT, state=TokenState.INVALIDATED)
        return result

    async def _call(self, method: Callable[[SecretStr], Awaitable[T]]) -> T:
        return await self._with_token(await self._tokens.usable(), method)

    async def _with_token(
        self, token: UsableToken, method: Callable[[SecretStr], Awaitable[T]]
    ) -> T:
        try:
            result = await method(token.secret)
        except UpstoxTokenInvalid:
            await self._tokens.mark_dead("Upstox rejected the token (401)", used=token)
            raise
        self.last_success_at = self._clock()
        return result
