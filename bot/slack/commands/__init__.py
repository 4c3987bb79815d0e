"""The `/staticip` slash command: acknowledge at once, then route to one handler per subcommand."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.log import request_id_var
from bot.runtime import Runtime
from bot.service.errors import UserFacingError
from bot.slack.commands import cancel, history, login, set_ips, show, status
from bot.slack.commands.context import CommandContext
from bot.slack.commands.help import unknown_subcommand_text, usage_text
from bot.slack.commands.parsing import split_subcommand
from bot.slack.respond import PooledRespond

log = logging.getLogger(__name__)

Handler = Callable[[CommandContext], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "show": show.handle,
    "set": set_ips.handle,
    "cancel": cancel.handle,
    "history": history.handle,
    "status": status.handle,
    "login": login.handle,
}


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.command("/staticip")
    async def staticip(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        subcommand, args = split_subcommand(command.get("text"))
        handler = HANDLERS.get(subcommand)
        if handler is None:
            text = (
                usage_text(runtime.settings)
                if subcommand == "help"
                else unknown_subcommand_text(runtime.settings, subcommand)
            )
            await ack(text=text, response_type="ephemeral")
            return
        await ack()
        ctx = CommandContext(
            runtime=runtime,
            user_id=str(command.get("user_id", "")),
            channel_id=command.get("channel_id"),
            subcommand=subcommand,
            args=args,
            trigger_id=command.get("trigger_id"),
            respond=PooledRespond(command.get("response_url"), runtime.responses),
            client=client,
        )
        await run_handler(handler, ctx)


async def run_handler(handler: Handler, ctx: CommandContext) -> None:
    """Every failure becomes a message to the user: never a stack trace, never silence."""
    try:
        await handler(ctx)
    except UserFacingError as error:
        await ctx.reply(error.user_message)
    except Exception:
        log.exception("/staticip %s failed", ctx.subcommand)
        await ctx.reply(
            "Sorry, something went wrong on the bot's side and nothing was changed. "
            f"(reference `{request_id_var.get()}`)"
        )
