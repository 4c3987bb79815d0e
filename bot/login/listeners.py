"""Slack listeners of the login capability: `/staticip login` (a browser link),
`/staticip login phone` (approve an Access Token Request on the phone), and the
acknowledgement of the "Log in to Upstox" URL button."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.errors import UserFacingError
from bot.ist import Clock
from bot.login.blocks import (
    LOGIN_ACTION_ID,
    login_prompt,
    token_request_started,
    token_requests_started,
)
from bot.login.service import LoginLinks, LoginService
from bot.slack.commands import CommandContext, Handler

log = logging.getLogger(__name__)

USAGE = (
    "Use `/staticip login` for a login link, `/staticip login <app>` for one of another "
    "Upstox app, or `/staticip login phone` to approve on the phone (every app at once)."
)


def login_command(links: LoginLinks, login: LoginService, clock: Clock) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        mode = ctx.args.strip().lower()
        if mode == "":
            link = await links.login_link(ctx.user_id)
            text, blocks = login_prompt(link, clock())
            await ctx.reply(text, blocks)
            return
        if mode == "phone":
            if len(login.app_names) == 1:
                request = await login.start_token_request(ctx.user_id)
                await ctx.reply(token_request_started(request))
                return
            started = await login.start_every_token_request(ctx.user_id)
            await ctx.reply(token_requests_started(started))
            return
        if mode in links.apps:
            link = await links.login_link(ctx.user_id, app=mode)
            text, blocks = login_prompt(link, clock())
            await ctx.reply(text, blocks)
            return
        shown = ctx.args.strip()[:40].replace("`", "")
        raise UserFacingError(f"Unknown option `{shown}`. {USAGE}")

    return handle


async def acknowledge_login_click(ack: AsyncAck, body: dict[str, Any]) -> None:
    """Slack opens the URL in the browser and still sends a block_actions payload, which
    must be acknowledged or the user sees an error; the login completes on the callback."""
    await ack()
    log.info("login button opened by %s", body.get("user", {}).get("id", "?"))


def register(app: AsyncApp) -> None:
    app.action(LOGIN_ACTION_ID)(acknowledge_login_click)
