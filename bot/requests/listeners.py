"""Slack listeners of the change-request capability.

`/staticip set|cancel|history`, the approval card's Approve and Reject buttons, the
change-request form (opened by `/staticip set` alone and by the App Home's "Request
change" button) and its submission, and the history's Older button. Each one parses what
Slack sent, acknowledges, calls the change-request service and renders the answer; the
rules live in the service. A button's value is only a request id (or, on Older, a history
cursor) and is never trusted beyond that; refusals reach only the person who clicked
(ephemeral).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UserFacingError
from bot.home.blocks import REQUEST_CHANGE_ACTION
from bot.ist import IST
from bot.requests.blocks import (
    ACCOUNT_FIELD,
    APPROVE_ACTION,
    APPROVE_AFTER_CLOSE_ACTION,
    CALLBACK_ID,
    HISTORY_OLDER_ACTION,
    MOVE_APPROVE_ACTION,
    MOVE_REJECT_ACTION,
    REJECT_ACTION,
    REJECT_CALLBACK_ID,
    change_request_modal,
    history_message,
    read_cursor,
    reject_modal,
    rejected_reason,
    requester_confirmation,
    result_modal,
    submitted_values,
)
from bot.requests.moves import HostMoves, MoveRequested
from bot.requests.service import (
    HISTORY_AGAIN,
    ChangeRequestService,
    Desks,
    InvalidFields,
    Verb,
)
from bot.slack.channel import SlackChannel
from bot.slack.commands import (
    CommandContext,
    Handler,
    clicked_value,
    error_boundary,
    names_list,
)
from bot.slack.mrkdwn import code

USAGE = (
    "Usage: `/staticip set <primary> [<secondary>] <reason…>`, "
    "e.g. `/staticip set 8.8.8.8 moved to the new VPS`."
)
USAGE_SEVERAL = (
    "Usage: `/staticip set <account> <primary> [<secondary>] <reason…>`, or "
    "`/staticip set all <primary> …` to move every account to a new host."
)

# A second word made only of IP characters, with a digit and a dot or colon, is read as
# the secondary IP (and then validated like one); anything else starts the reason.
_IP_CHARS = re.compile(r"^[0-9A-Fa-f:.\[\]%]+$")


def looks_like_ip(word: str) -> bool:
    return (
        bool(_IP_CHARS.match(word))
        and any(c.isdigit() for c in word)
        and ("." in word or ":" in word)
    )


_AT = re.compile(r"--at\s+[\"“']?(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})[\"”']?")
AT_USAGE = 'Give the time in IST as `--at "2026-12-05 16:00"`.'


def split_at(args: str) -> tuple[str, datetime | None]:
    """(the arguments without `--at …`, the IST time asked for or None)."""
    if "--at" not in args:
        return args, None
    found = _AT.search(args)
    moment = _ist(found[1], found[2]) if found else None
    if found is None or moment is None:
        raise UserFacingError(f"{AT_USAGE} Nothing was requested.")
    return (args[: found.start()] + args[found.end() :]).strip(), moment


_FORM_AT = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})\s*$")


def form_at(text: str) -> datetime | None:
    """The form's optional "Apply at" field; raises InvalidFields when it is not a time."""
    if not text.strip():
        return None
    found = _FORM_AT.match(text)
    moment = _ist(found[1], found[2]) if found else None
    if moment is None:
        raise InvalidFields(
            {"apply_at": "Give the time in IST as 2026-12-05 16:00, or leave it empty."}
        )
    return moment


def _ist(day: str, clock_time: str) -> datetime | None:
    try:
        return datetime.fromisoformat(f"{day} {clock_time.zfill(5)}").replace(tzinfo=IST)
    except ValueError:
        return None


def split_set_args(args: str) -> tuple[str, str | None, str]:
    """(primary, secondary or None, reason); the reason keeps its own spacing."""
    parts = args.strip().split(None, 1)
    primary = parts[0] if parts else ""
    rest = parts[1].strip() if len(parts) > 1 else ""
    head = rest.split(None, 1)
    if head and looks_like_ip(head[0]):
        return primary, head[0], head[1].strip() if len(head) > 1 else ""
    return primary, None, rest


# -- /staticip set | cancel | history ---------------------------------------------------


def set_command(requests: ChangeRequestService, channel: SlackChannel) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        if not ctx.args.strip():
            if not ctx.trigger_id:
                raise UserFacingError(USAGE)
            await ctx.client.views_open(trigger_id=ctx.trigger_id, view=change_request_modal())
            return
        args, apply_at = split_at(ctx.args)
        primary, secondary, reason = split_set_args(args)
        request = await requests.create(ctx.user_id, primary, secondary, reason, apply_at=apply_at)
        link = await channel.permalink(request.card_channel, request.card_ts)
        await ctx.reply(requester_confirmation(request, link))

    return handle


def cancel_command(requests: ChangeRequestService, approval_channel: str) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        words = ctx.args.split()
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
            f"<#{cancelled.card_channel or approval_channel}> says so too."
        )

    return handle


def history_command(requests: ChangeRequestService) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        text, blocks = history_message(await requests.history(ctx.args), ctx.account)
        await ctx.reply(text, blocks)

    return handle


# -- buttons and the form ---------------------------------------------------------------


def clicker(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id", ""))


def tell_clicker(body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> Any:
    """An ephemeral answer to whoever clicked: via response_url, or chat.postEphemeral."""

    async def tell(text: str) -> None:
        if body.get("response_url"):
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            await client.chat_postEphemeral(channel=channel, user=user, text=text)

    return tell


def set_across_command(desks: Desks, moves: HostMoves) -> Handler:
    """`/staticip set` naming no one account, with several: `all` or a comma list is a host
    move; nothing opens the form (with an account picker); anything else is asked which
    account (a change is never guessed onto one)."""

    async def handle(ctx: CommandContext) -> None:
        if not ctx.args.strip():
            if not ctx.trigger_id:
                raise UserFacingError(USAGE_SEVERAL)
            await ctx.client.views_open(
                trigger_id=ctx.trigger_id, view=change_request_modal(desks.names)
            )
            return
        word, _, rest = ctx.args.strip().partition(" ")
        targets = moves.targets(word)
        if targets is not None:
            if "--at" in rest:
                raise UserFacingError(
                    "A host move is applied on approval; `--at` works for one account at a "
                    "time. Nothing was requested."
                )
            primary, secondary, reason = split_set_args(rest)
            made = await moves.create(ctx.user_id, targets, primary, secondary, reason)
            await ctx.reply(move_confirmation(made))
            return
        unknown = "" if looks_like_ip(word) else f"There is no account {code(word[:40])}. "
        raise UserFacingError(
            f"{unknown}Which account? `/staticip set <account> <primary> [<secondary>] "
            f"<reason…>` — the accounts are {names_list(desks.names)}. Nothing was requested.",
            code="which_account",
        )

    return handle


def cancel_across_command(desks: Desks, moves: HostMoves) -> Handler:
    """`/staticip cancel <id>` with several accounts: the request's own account cancels it;
    `cancel m-…` cancels every waiting account of a host move."""

    async def handle(ctx: CommandContext) -> None:
        words = ctx.args.split()
        if words and words[0].lower().startswith("m-"):
            await ctx.reply(await moves.cancel(words[0], ctx.user_id))
            return
        desk = await desks.of_request(words[0]) if words else desks.default
        if not words:
            raise UserFacingError("Give the request id: `/staticip cancel r-…`.")
        await cancel_command(desk.requests, desk.channel.channel)(ctx)

    return handle


def move_confirmation(made: MoveRequested) -> str:
    where = f"<{made.link}|the card>" if made.link else "the approvals channel"
    names = ", ".join(f"`{name}`" for name, _ in made.parts)
    text = (
        f"Host move `{made.move.id}` requested for {names}; an approver of every one of them "
        f"decides in {where}. Nothing changes until then."
    )
    if made.refused:
        text += "\nLeft out:" + "".join(f"\n• `{name}`: {why}" for name, why in made.refused)
    return text


def register(app: AsyncApp, desks: Desks, moves: HostMoves) -> None:
    def decision(verb: Verb) -> Any:
        async def listener(
            ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
        ) -> None:
            await ack()
            tell = tell_clicker(body, respond, client)
            async with error_boundary(
                f"{verb.value} click", tell, consequence="the card shows the request's real state"
            ):
                request_id = clicked_value(body)
                desk = await desks.of_request(request_id)
                await desk.requests.decide(request_id, clicker(body), verb)

        return listener

    def move_decision(verb: Verb) -> Any:
        async def listener(
            ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
        ) -> None:
            await ack()
            tell = tell_clicker(body, respond, client)
            async with error_boundary(
                f"host move {verb.value} click",
                tell,
                consequence="the card shows each account's real state",
            ):
                await tell(await moves.decide(clicked_value(body), clicker(body), verb))

        return listener

    app.action(MOVE_APPROVE_ACTION)(move_decision(Verb.APPROVE))
    app.action(MOVE_REJECT_ACTION)(move_decision(Verb.REJECT))
    app.action(APPROVE_ACTION)(decision(Verb.APPROVE))
    app.action(APPROVE_AFTER_CLOSE_ACTION)(decision(Verb.APPROVE_AFTER_CLOSE))

    @app.action(REJECT_ACTION)
    async def reject_clicked(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """Reject asks for an optional reason first (a modal), if the reject could happen."""
        await ack()
        tell = tell_clicker(body, respond, client)
        async with error_boundary(
            "reject click", tell, consequence="the card shows the request's real state"
        ):
            request_id = clicked_value(body)
            desk = await desks.of_request(request_id)
            request = await desk.requests.check_decision(request_id, clicker(body), Verb.REJECT)
            summary = (
                f"Reject request `{request.id}` by <@{request.requester_id}> "
                f"(primary `{request.proposed_primary}`)? Nothing will change at Upstox."
            )
            await client.views_open(
                trigger_id=str(body.get("trigger_id", "")),
                view=reject_modal(request.id, summary),
            )

    @app.view(REJECT_CALLBACK_ID)
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        view = body.get("view") or {}
        await ack(response_action="update", view=result_modal(":hourglass: Rejecting…"))
        view_id = view.get("id")

        async def show(text: str) -> None:
            if view_id:
                await client.views_update(view_id=view_id, view=result_modal(f":x: {text}"))

        async with error_boundary("reject with a reason", show, consequence="nothing changed"):
            request_id = str(view.get("private_metadata") or "")
            desk = await desks.of_request(request_id)
            rejected = await desk.requests.decide(
                request_id,
                clicker(body),
                Verb.REJECT,
                reason=rejected_reason(view),
            )
            if view_id:
                text = f":no_entry_sign: Rejected request `{rejected.id}`; the card says so."
                await client.views_update(view_id=view_id, view=result_modal(text))

    @app.action(HISTORY_OLDER_ACTION)
    async def history_older(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """The next (older) page replaces the history message the button is on; a cursor
        the bot did not make, or that is not the account's, changes nothing."""
        await ack()
        tell = tell_clicker(body, respond, client)
        async with error_boundary("history Older click", tell):
            cursor = read_cursor(clicked_value(body))
            if cursor is None:
                raise UserFacingError(
                    f"That is not a history page; nothing was changed. {HISTORY_AGAIN}"
                )
            page = await desks.older_history(cursor.account, cursor.before, cursor.page)
            text, blocks = history_message(page, cursor.account or None)
            # The history is an ephemeral message: only its response_url can replace it.
            await respond(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=True
            )

    @app.action(REQUEST_CHANGE_ACTION)
    async def request_change(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        trigger_id = str(body.get("trigger_id", ""))

        async def show(text: str) -> None:
            await client.views_open(trigger_id=trigger_id, view=result_modal(text))

        async with error_boundary("the App Home's Request change button", show):
            # Several accounts: the button's value is its account's name, picked in the form.
            view = change_request_modal(desks.names, selected=clicked_value(body))
            await client.views_open(trigger_id=trigger_id, view=view)

    @app.view(CALLBACK_ID)
    async def submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Field errors in the ack; the rest needs Upstox, so the form turns into
        "checking…" and is then updated with the outcome."""
        view = body.get("view") or {}
        values = submitted_values(view)
        errors: dict[str, str] = {}
        apply_at = None
        desk = desks.named(values[ACCOUNT_FIELD]) or desks.default
        if len(desks.all) > 1 and desks.named(values[ACCOUNT_FIELD]) is None:
            errors[ACCOUNT_FIELD] = "Pick the account to change."
        requests = desk.requests
        try:
            requests.check_fields(values["primary"], values["secondary"], values["reason"])
        except InvalidFields as error:
            errors.update(error.errors)
        try:
            apply_at = form_at(values["apply_at"])
        except InvalidFields as error:
            errors.update(error.errors)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack(response_action="update", view=result_modal(":hourglass: Checking with Upstox…"))
        view_id = view.get("id")

        async def show(text: str) -> None:
            if view_id:
                await client.views_update(view_id=view_id, view=result_modal(f":x: {text}"))

        async with error_boundary(
            "change request from the form", show, consequence="nothing was requested"
        ):
            request = await requests.create(
                clicker(body),
                values["primary"],
                values["secondary"] or None,
                values["reason"],
                apply_at=apply_at,
            )
            link = await desk.channel.permalink(request.card_channel, request.card_ts)
            if view_id:
                text = ":white_check_mark: " + requester_confirmation(request, link)
                await client.views_update(view_id=view_id, view=result_modal(text))
