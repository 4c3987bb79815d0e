"""Slack listeners of the query capability: `/staticip show` (and plain `/staticip`) and
`/staticip status`. The router has already acknowledged; the answer goes to the
response_url. `show` is bounded by REPLY_DEADLINE, so the user always gets an answer."""

from __future__ import annotations

from datetime import timedelta

from bot.show.blocks import show_failure_message, show_message, status_message
from bot.show.service import ShowOverview, ShowService
from bot.slack.commands import CommandContext, Handler


def show_command(show: ShowService, deadline: timedelta) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        result = await show.show(deadline=deadline.total_seconds())
        if isinstance(result, ShowOverview):
            payload = show_message(result)
        else:
            payload = show_failure_message(result)
        await ctx.reply(payload["text"], payload.get("blocks"))

    return handle


def status_command(show: ShowService) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        payload = status_message(await show.status())
        await ctx.reply(payload["text"], payload.get("blocks"))

    return handle
