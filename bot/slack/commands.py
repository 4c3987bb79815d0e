"""The `/staticip` slash command and the one error boundary every listener shares.

The router splits `/staticip <subcommand> <args>`, answers `help` (and unknown
subcommands) in the acknowledgement itself, and otherwise acknowledges at once and hands
a `CommandContext` to the feature that owns the subcommand (the handlers come from the
feature packages; see `bot.app`). Every failure a handler raises goes through
`error_boundary`: a `UserFacingError` becomes its message, anything else is logged with
the request id and the person gets an apology with that reference.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.errors import UserFacingError
from bot.log import request_id_var
from bot.slack.respond import PooledRespond, ResponseSession

log = logging.getLogger(__name__)

Reply = Callable[[str], Awaitable[Any]]


def apology(consequence: str = "nothing was changed") -> str:
    return (
        f"Sorry, something went wrong on the bot's side and {consequence}. "
        f"(reference `{request_id_var.get()}`)"
    )


@asynccontextmanager
async def error_boundary(
    what: str, reply: Reply, *, consequence: str = "nothing was changed"
) -> AsyncIterator[None]:
    """Run a listener's work; tell the person what went wrong, never a stack trace."""
    try:
        yield
    except UserFacingError as error:
        await reply(error.user_message)
    except Exception:
        log.exception("%s failed", what)
        try:
            await reply(apology(consequence))
        except Exception:
            log.exception("%s: could not tell the user either", what)


@dataclass(frozen=True)
class CommandContext:
    """What a subcommand handler receives: the parsed command and the ways to answer."""

    user_id: str
    channel_id: str | None
    subcommand: str
    args: str
    trigger_id: str | None
    respond: AsyncRespond
    client: AsyncWebClient

    async def reply(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer to the person who typed the command; a failed post is
        logged (respond() does not raise on HTTP errors)."""
        try:
            response = await self.respond(text=text, blocks=blocks, response_type="ephemeral")
        except Exception:
            log.exception("/staticip %s: posting the answer failed", self.subcommand)
            return
        status = getattr(response, "status_code", None)
        if status is not None and not 200 <= status < 300:
            log.error(
                "/staticip %s: response_url answered HTTP %s: %s",
                self.subcommand,
                status,
                str(getattr(response, "body", ""))[:200],
            )


Handler = Callable[[CommandContext], Awaitable[None]]


def split_subcommand(text: str | None) -> tuple[str, str]:
    """Return (subcommand, rest). Empty text means `show`; case and spacing don't matter."""
    stripped = (text or "").strip()
    if not stripped:
        return "show", ""
    head, _, rest = stripped.partition(" ")
    return head.lower(), rest.strip()


def usage_text(approval_channel: str) -> str:
    return "\n".join(
        [
            "*/staticip* — see and safely change the static IPs registered with Upstox",
            "• `/staticip` or `/staticip show` — registered IPs, when each last changed, "
            "when the next change is allowed",
            "• `/staticip set <primary> [<secondary>] <reason…>` — request a change "
            f"(`/staticip set` alone opens a form); an approver decides in <#{approval_channel}>."
            ' Add `--at "2026-12-05 16:00"` (IST) to have it applied at that time',
            "• `/staticip cancel <id>` — cancel a pending or scheduled request",
            "• `/staticip status` — Upstox session, pending requests, approvers",
            "• `/staticip history [page]` — the audit trail, newest first",
            "• `/staticip login` — log in to Upstox again "
            "(`/staticip login phone` to approve on your phone, for every app; "
            "`/staticip login <app>` for a trading system's app)",
            "• `/staticip help` — this message",
            "Upstox allows *one change per calendar week*, and every change "
            "*logs out every Upstox session* until someone logs in again.",
        ]
    )


def unknown_subcommand_text(approval_channel: str, subcommand: str) -> str:
    shown = subcommand[:40].replace("`", "'")
    return f"Unknown subcommand `{shown}`.\n\n{usage_text(approval_channel)}"


def register_command(
    app: AsyncApp,
    handlers: Mapping[str, Handler],
    *,
    approval_channel: str,
    responses: ResponseSession,
) -> None:
    @app.command("/staticip")
    async def staticip(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        subcommand, args = split_subcommand(command.get("text"))
        handler = handlers.get(subcommand)
        if handler is None:
            text = (
                usage_text(approval_channel)
                if subcommand == "help"
                else unknown_subcommand_text(approval_channel, subcommand)
            )
            await ack(text=text, response_type="ephemeral")
            metrics.command(subcommand, "ok" if subcommand == "help" else "refused")
            return
        await ack()
        ctx = CommandContext(
            user_id=str(command.get("user_id", "")),
            channel_id=command.get("channel_id"),
            subcommand=subcommand,
            args=args,
            trigger_id=command.get("trigger_id"),
            respond=PooledRespond(command.get("response_url"), responses),
            client=client,
        )
        await run_handler(handler, ctx)


async def run_handler(handler: Handler, ctx: CommandContext) -> None:
    async with error_boundary(f"/staticip {ctx.subcommand}", ctx.reply):
        try:
            await handler(ctx)
        except UserFacingError:
            metrics.command(ctx.subcommand, "refused")
            raise
        except Exception:
            metrics.command(ctx.subcommand, "error")
            raise
        metrics.command(ctx.subcommand, "ok")
