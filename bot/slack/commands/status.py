"""`/staticip status`: the Upstox session, open requests and who approves.

Reads only the store and the configuration, never Upstox, so it works when Upstox is
down or the session is dead — exactly when people ask for it.
"""

from __future__ import annotations

from bot.service.overview import gather_status
from bot.slack.blocks.overview import status_message
from bot.slack.commands.context import CommandContext
from bot.slack.commands.show import answer


async def handle(ctx: CommandContext) -> None:
    await answer(ctx, status_message(await gather_status(ctx.runtime)))
