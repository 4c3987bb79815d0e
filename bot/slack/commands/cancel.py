"""`/staticip cancel <id>`: the requester or an approver withdraws a pending request."""

from __future__ import annotations

from bot.service.errors import UserFacingError
from bot.slack.commands.context import CommandContext


async def handle(ctx: CommandContext) -> None:
    words = ctx.args.split()
    requests = ctx.runtime.requests
    if not words:
        open_request = await requests.open_request()
        hint = (
            f" The open request is `{open_request.id}`."
            if open_request is not None
            else " There is no open request right now."
        )
        raise UserFacingError(f"Give the request id: `/staticip cancel r-…`.{hint}")
    cancelled = await requests.cancel(words[0], ctx.user_id)
    await ctx.reply(
        f"Cancelled request `{cancelled.id}`; nothing will change. The card in "
        f"<#{cancelled.card_channel or ctx.runtime.settings.slack_approval_channel}> "
        "says so too."
    )
