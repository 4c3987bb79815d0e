"""`/staticip set <primary> [<secondary>] <reason…>`; without arguments it opens a form."""

from __future__ import annotations

import re

from bot.service.errors import UserFacingError
from bot.slack.blocks.request_card import requester_confirmation
from bot.slack.commands.context import CommandContext
from bot.slack.request_links import card_permalink
from bot.slack.views.change_request import open_change_request_modal

# A second word made only of IP characters, with a digit and a dot or colon, is read as
# the secondary IP (and then validated like one); anything else starts the reason.
_IP_CHARS = re.compile(r"^[0-9A-Fa-f:.\[\]%]+$")


def looks_like_ip(word: str) -> bool:
    return (
        bool(_IP_CHARS.match(word))
        and any(c.isdigit() for c in word)
        and ("." in word or ":" in word)
    )


def split_set_args(args: str) -> tuple[str, str | None, str]:
    """(primary, secondary or None, reason); the reason keeps its own spacing."""
    parts = args.strip().split(None, 1)
    primary = parts[0] if parts else ""
    rest = parts[1].strip() if len(parts) > 1 else ""
    head = rest.split(None, 1)
    if head and looks_like_ip(head[0]):
        return primary, head[0], head[1].strip() if len(head) > 1 else ""
    return primary, None, rest


async def handle(ctx: CommandContext) -> None:
    if not ctx.args.strip():
        if not ctx.trigger_id:
            raise UserFacingError(
                "Usage: `/staticip set <primary> [<secondary>] <reason…>`, "
                "e.g. `/staticip set 8.8.8.8 moved to the new VPS`."
            )
        await open_change_request_modal(ctx.client, ctx.trigger_id, ctx.runtime)
        return
    primary, secondary, reason = split_set_args(ctx.args)
    request = await ctx.runtime.requests.create(ctx.user_id, primary, secondary, reason)
    link = await card_permalink(ctx.client, request)
    await ctx.reply(requester_confirmation(request, link))
