"""`/staticip history [page]`: the audit trail, newest first, ephemeral."""

from __future__ import annotations

from bot.slack.blocks.history import history_message
from bot.slack.commands.context import CommandContext


async def handle(ctx: CommandContext) -> None:
    page = await ctx.runtime.requests.history(ctx.args)
    text, blocks = history_message(page)
    await ctx.reply(text, blocks)
