"""`/staticip status`."""

from __future__ import annotations

from bot.service.errors import UserFacingError
from bot.slack.commands.context import CommandContext


async def handle(ctx: CommandContext) -> None:
    raise UserFacingError("`/staticip status` is not available yet.")
