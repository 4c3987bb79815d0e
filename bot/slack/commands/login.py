"""`/staticip login` (a login link for the browser) and `/staticip login phone` (approve an
Access Token Request on the phone)."""

from __future__ import annotations

from bot.service.errors import UserFacingError
from bot.slack.blocks.login import login_prompt, token_request_started
from bot.slack.commands.context import CommandContext

USAGE = (
    "Use `/staticip login` for a login link, or `/staticip login phone` to approve on the phone."
)


async def handle(ctx: CommandContext) -> None:
    mode = ctx.args.strip().lower()
    login = ctx.runtime.login
    if mode == "":
        link = await login.login_link(ctx.user_id)
        text, blocks = login_prompt(link, ctx.runtime.clock())
        await ctx.reply(text, blocks)
        return
    if mode == "phone":
        request = await login.start_token_request(ctx.user_id)
        await ctx.reply(token_request_started(request))
        return
    shown = ctx.args.strip()[:40].replace("`", "")
    raise UserFacingError(f"Unknown option `{shown}`. {USAGE}")
