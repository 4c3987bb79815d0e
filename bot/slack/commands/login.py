"""`/staticip login`."""

from __future__ import annotations

from bot.service.errors import UserFacingError
from bot.slack.commands.context import CommandContext


async def handle(ctx: CommandContext) -> None:
    raise UserFacingError("`/staticip login` is not available yet.")
