"""Registers every watcher of one Runtime with its scheduler (called once, after start)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import time
from typing import TYPE_CHECKING

from bot.jobs.drift import ip_watch
from bot.jobs.expiry import expiry_sweep
from bot.jobs.morning import morning_check
from bot.jobs.reconcile import reconcile_sweep
from bot.jobs.token_check import token_check
from bot.service.tokens import TokenDeath

if TYPE_CHECKING:
    from bot.runtime import Runtime

# Upstox tokens die at 03:30 IST; one minute later the check finds it without waiting for
# the next periodic run.
TOKEN_EXPIRY_CHECK_AT = time(3, 31)

JOBS = (
    "expiry",
    "token_check",
    "token_check_0331",
    "ip_watch",
    "morning",
    "morning_daily",
    "reconcile",
)


def register_jobs(runtime: Runtime) -> None:
    scheduler = runtime.scheduler
    every = runtime.settings.check_interval

    def bound(check: Callable[[Runtime], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await check(runtime)

        return job

    scheduler.add("expiry", every, bound(expiry_sweep))
    scheduler.add("token_check", every, bound(token_check))
    scheduler.add_daily("token_check_0331", TOKEN_EXPIRY_CHECK_AT, bound(token_check))
    scheduler.add("ip_watch", every, bound(ip_watch))
    scheduler.add("morning", every, bound(morning_check))
    scheduler.add_daily("morning_daily", runtime.settings.morning_reminder_at, bound(morning_check))
    scheduler.add("reconcile", every, bound(reconcile_sweep))

    async def on_dead(_death: TokenDeath) -> None:
        runtime.refresh_home()

    async def on_login() -> None:
        runtime.refresh_home()

    runtime.tokens.on_dead.append(on_dead)
    runtime.tokens.on_login.append(on_login)
