"""Every Upstox call the bot makes with the stored token goes through here.

It fetches the usable token and records what Upstox says about it: a 401 marks the token
dead (recorded only; the watcher's token check posts the alert). What a successful PUT
means for the token (every session logged out) is the apply flow's business, spelled out
there (`bot.requests.apply`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from pydantic import SecretStr

from bot.ist import Clock
from bot.login.tokens import TokenService, UsableToken
from bot.upstox import Profile, StaticIps, StaticIpUpdateResult, UpstoxClient, UpstoxTokenInvalid

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
        # The last successful read: (epoch, monotonic time, clock time, IPs).
        self._last_read: tuple[int, float, datetime, StaticIps] | None = None

    @property
    def last_read(self) -> tuple[StaticIps, datetime] | None:
        """The IPs of the last successful read and when it was made (None before any)."""
        return None if self._last_read is None else (self._last_read[3], self._last_read[2])

    async def static_ips(self, *, max_age: float = 0.0) -> StaticIps:
        """The registered IPs. Concurrent callers share one Upstox read: a channel hammering
        `/staticip show` costs Upstox one call, not fifty (its limit is 50/s per API), and
        the bot no longer queues them behind the client's connection pool.

        `max_age` (seconds) lets a caller that is shown to people repeatedly (the App Home)
        take the last read if it is that recent — never one made before a change started.
        """
        last = self._last_read
        recent = last is not None and time.monotonic() - last[1] < max_age
        if recent and last is not None and last[0] == self._ips_epoch:
            return last[3]
        shared = self._shared_read
        if shared is None or shared[0] != self._ips_epoch or shared[1].done():
            task = asyncio.create_task(self._read_ips(self._ips_epoch))
            task.add_done_callback(_consume_exception)
            shared = self._shared_read = (self._ips_epoch, task)
        # shield: one caller giving up (its deadline) must not cancel the others' read.
        return await asyncio.shield(shared[1])

    async def _read_ips(self, epoch: int) -> StaticIps:
        ips = await self._call(self.client.get_static_ips)
        if epoch == self._ips_epoch:
            self._last_read = (epoch, time.monotonic(), self._clock(), ips)
        return ips

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
        finally:
            self._ips_epoch += 1
        # Upstox's answer to the PUT is the newest read of the IPs there is.
        self._last_read = (self._ips_epoch, time.monotonic(), self._clock(), result)
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


def _consume_exception(task: asyncio.Task[StaticIps]) -> None:
    # Every waiter may have given up; the failure was theirs to see, not asyncio's to log.
    if not task.cancelled():
        task.exception()
