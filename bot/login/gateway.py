"""Every Upstox call the bot makes with the stored token goes through here.

It fetches the usable token and records what Upstox says about it: a 401 marks the token
dead (recorded only; the watcher's token check posts the alert). What a successful PUT
means for the token (every session logged out) is the apply flow's business, spelled out
there (`bot.requests.apply`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from pydantic import SecretStr

from bot import metrics
from bot.ist import Clock
from bot.login.tokens import TokenService, UsableToken
from bot.upstox import Profile, StaticIps, StaticIpUpdateResult, UpstoxClient, UpstoxTokenInvalid
from bot.week_window import change_window

T = TypeVar("T")


class UpstoxGateway:
    def __init__(self, client: UpstoxClient, tokens: TokenService, clock: Clock) -> None:
        self.client = client
        self._tokens = tokens
        self._clock = clock
        self.last_success_at: datetime | None = None
        # Bumped when a PUT starts and when it ends: a read may only be shared by callers
        # that began in the same epoch, so no caller ever gets IPs read before or during a
        # change it has seen start or finish (the drift check, the read-back after a PUT).
        self._ips_epoch = 0
        self._shared_read: tuple[int, asyncio.Task[StaticIps]] | None = None

    async def static_ips(self) -> StaticIps:
        """The registered IPs. Concurrent callers share one Upstox read: a channel hammering
        `/staticip show` costs Upstox one call, not fifty (its limit is 50/s per API), and
        the bot no longer queues them behind the client's connection pool."""
        shared = self._shared_read
        if shared is None or shared[0] != self._ips_epoch or shared[1].done():
            task = asyncio.create_task(self._read_ips())
            task.add_done_callback(_consume_exception)
            shared = self._shared_read = (self._ips_epoch, task)
        # shield: one caller giving up (its deadline) must not cancel the others' read.
        return await asyncio.shield(shared[1])

    async def _read_ips(self) -> StaticIps:
        ips = await self._call(self.client.get_static_ips)
        self._record_window(ips)
        return ips

    def _record_window(self, ips: StaticIps) -> None:
        window = change_window(
            ips.primary_ip_updated_at, ips.secondary_ip_updated_at, self._clock()
        )
        metrics.change_window(None if window.allowed else window.next_allowed_at)

    async def profile(self) -> Profile:
        return await self._call(self.client.get_profile)

    async def update_static_ips(
        self, primary_ip: str, secondary_ip: str | None
    ) -> StaticIpUpdateResult:
        """The one PUT. Never retried here or in the client; see the module docstring."""
        token = await self._tokens.usable()

        async def put(secret: SecretStr) -> StaticIpUpdateResult:
            return await self.client.update_static_ips(secret, primary_ip, secondary_ip)

        self._ips_epoch += 1
        try:
            result = await self._with_token(token, put)
            self._record_window(result)
            return result
        finally:
            self._ips_epoch += 1

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


def _consume_exception(task: asyncio.Task[StaticIps]) -> None:
    # Every waiter may have given up; the failure was theirs to see, not asyncio's to log.
    if not task.cancelled():
        task.exception()
