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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.errors import UserFacingError
from bot.log import request_id_var
from bot.slack.ack_first import AckFirst
from bot.slack.mrkdwn import code
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
    account: str | None = None
    """The account named in the command (several accounts), or None."""
    acks: AckFirst | None = None
    """Gives way to waiting acknowledgements before the answer is posted."""

    async def reply(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer to the person who typed the command; a failed post is
        logged (respond() does not raise on HTTP errors)."""
        if self.acks is not None:
            await self.acks.turn()
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


def clicked_value(body: dict[str, Any]) -> str:
    """The value of the button clicked (a string, possibly empty; never trusted beyond an
    id or a name to look up)."""
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    return value if isinstance(value, str) else ""


def split_subcommand(text: str | None) -> tuple[str, str]:
    """Return (subcommand, rest). Empty text means `show`; case and spacing don't matter."""
    stripped = (text or "").strip()
    if not stripped:
        return "show", ""
    head, _, rest = stripped.partition(" ")
    return head.lower(), rest.strip()


def usage_text(approval_channel: str, accounts: Sequence[str] = ()) -> str:
    several = []
    if len(accounts) > 1:
        several = [
            f"This bot serves several Upstox accounts ({names_list(accounts)}): name one after "
            "the subcommand, e.g. `/staticip show desk`, `/staticip set desk <primary> …`; "
            "`/staticip show` and `status` alone cover every account, and "
            "`/staticip set all <primary> [<secondary>] <reason…>` (or `set desk,family …`) "
            "moves several accounts to a new host with one approval.",
        ]
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
            *several,
        ]
    )


def unknown_subcommand_text(
    approval_channel: str, subcommand: str, accounts: Sequence[str] = ()
) -> str:
    shown = subcommand[:40].replace("`", "'")
    return f"Unknown subcommand `{shown}`.\n\n{usage_text(approval_channel, accounts)}"


@dataclass(frozen=True)
class AccountCommands:
    """One account's subcommand handlers, under the account's name."""

    name: str
    handlers: Mapping[str, Handler]


def names_list(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


@dataclass(frozen=True)
class CommandRouter:
    """Which handler answers `/staticip <subcommand> [account] <args>`.

    With one account nothing is read as an account (its own name may be typed and is
    skipped). With several, a first word that is an account's name picks that account;
    otherwise the `across` handler of the subcommand answers (e.g. `show` summarising every
    account, `set all …`), and a subcommand without one asks which account.
    """

    accounts: Sequence[AccountCommands]
    across: Mapping[str, Handler]

    def route(self, subcommand: str, args: str) -> tuple[Handler | None, str, str | None]:
        """(the handler or None for an unknown subcommand, its arguments, the account)."""
        first = self.accounts[0]
        if subcommand not in first.handlers:
            return None, args, None
        word, _, rest = args.partition(" ")
        by_name = {account.name: account for account in self.accounts}
        named = by_name.get(word.lower())
        if len(self.accounts) == 1:
            if named is not None:
                return first.handlers[subcommand], rest.strip(), first.name
            return first.handlers[subcommand], args, None
        if named is not None:
            return named.handlers[subcommand], rest.strip(), named.name
        if subcommand in self.across:
            return self.across[subcommand], args, None
        return _which_account(subcommand, [a.name for a in self.accounts]), args, None


def _which_account(subcommand: str, names: Sequence[str]) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        word = ctx.args.split(" ", 1)[0]
        unknown = ""
        if word and not word.isdigit() and word.lower() not in ("phone",):
            unknown = f"There is no account {code(word[:40])}. "
        raise UserFacingError(
            f"{unknown}Which account? `/staticip {subcommand} <account> …` — the accounts "
            f"are {names_list(names)}. Nothing was changed.",
            code="which_account",
        )

    return handle


def register_command(
    app: AsyncApp,
    router: CommandRouter,
    *,
    approval_channel: str,
    responses: ResponseSession,
    acks: AckFirst,
) -> None:
    @app.command("/staticip")
    async def staticip(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        subcommand, args = split_subcommand(command.get("text"))
        handler, args, account = router.route(subcommand, args)
        if handler is None:
            names = [account.name for account in router.accounts]
            text = (
                usage_text(approval_channel, names)
                if subcommand == "help"
                else unknown_subcommand_text(approval_channel, subcommand, names)
            )
            await ack(text=text, response_type="ephemeral")
            metrics.command(subcommand, "ok" if subcommand == "help" else "refused")
            return
        await ack()
        await acks.door()  # the next commands' acknowledgements between any two works
        ctx = CommandContext(
            user_id=str(command.get("user_id", "")),
            channel_id=command.get("channel_id"),
            subcommand=subcommand,
            args=args,
            trigger_id=command.get("trigger_id"),
            respond=PooledRespond(command.get("response_url"), responses),
            client=client,
            account=account,
            acks=acks,
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
