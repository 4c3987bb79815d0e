"""The morning reminder: nobody is logged in and the market opens soon."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.service.watch import morning_reminder_condition
from bot.slack.blocks.watch import morning_reminder

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def morning_check(runtime: Runtime) -> None:
    """No Upstox call: the stored token state is enough (the token check keeps it honest)."""
    now = runtime.clock()
    status = await runtime.tokens.status()
    condition = morning_reminder_condition(
        now, runtime.settings.morning_reminder_at, logged_in=status.health == "valid"
    )
    if condition is None:
        return
    text, blocks = morning_reminder(status.describe(), now)
    await runtime.alerts.start(condition, text, blocks)
