"""`/staticip show` (and plain `/staticip`): what is registered and when it can change.

The router has already acknowledged the command; the answer goes to the response_url.
`gather_show` is bounded by REPLY_DEADLINE, so the user always gets an answer.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.service.overview import ShowOverview, gather_show
from bot.slack.blocks.overview import show_failure_message, show_message
from bot.slack.commands.context import CommandContext

log = logging.getLogger(__name__)


async def handle(ctx: CommandContext) -> None:
    deadline = ctx.runtime.settings.reply_deadline.total_seconds()
    result = await gather_show(ctx.runtime, deadline=deadline)
    if isinstance(result, ShowOverview):
        payload = show_message(result)
    else:
        payload = show_failure_message(result)
    await answer(ctx, payload)


async def answer(ctx: CommandContext, payload: dict[str, Any]) -> None:
    """Post an ephemeral answer; a failed post is logged (respond() does not raise on HTTP
    errors, and the user would otherwise see nothing with no trace of why)."""
    try:
        response = await ctx.respond(
            text=payload["text"], blocks=payload.get("blocks"), response_type="ephemeral"
        )
    except Exception:
        log.exception("/staticip %s: posting the answer to response_url failed", ctx.subcommand)
        return
    status = getattr(response, "status_code", None)
    if status is not None and not 200 <= status < 300:
        log.error(
            "/staticip %s: response_url answered HTTP %s: %s",
            ctx.subcommand,
            status,
            str(getattr(response, "body", ""))[:200],
        )
