"""Slack listeners of the query capability: `/staticip show` (and plain `/staticip`) and
`/staticip status`. The router has already acknowledged; the answer goes to the
response_url. `show` is bounded by REPLY_DEADLINE, so the user always gets an answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from bot.errors import UserFacingError
from bot.ist import Clock
from bot.show.blocks import (
    ShowAnswers,
    accounts_status_message,
    accounts_summary_message,
    show_failure_message,
    status_message,
)
from bot.show.service import ShowOverview, ShowService
from bot.slack.commands import CommandContext, Handler, names_list
from bot.slack.mrkdwn import code


def show_command(show: ShowService, deadline: timedelta) -> Handler:
    answers = ShowAnswers()

    async def handle(ctx: CommandContext) -> None:
        result = await show.show(deadline=deadline.total_seconds())
        if isinstance(result, ShowOverview):
            payload = answers.render(result)
        else:
            payload = show_failure_message(result)
        await ctx.reply(payload["text"], payload.get("blocks"))

    return handle


def status_command(show: ShowService) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        payload = status_message(await show.status())
        await ctx.reply(payload["text"], payload.get("blocks"))

    return handle


def summary_command(
    shows: Sequence[tuple[str, ShowService]], deadline: timedelta, clock: Clock
) -> Handler:
    """`show` naming no account, with several: every account side by side, one line each
    (each bounded by the same deadline). A word that names no account is refused."""

    async def handle(ctx: CommandContext) -> None:
        _refuse_unknown(ctx, [name for name, _ in shows])
        seconds = deadline.total_seconds()
        results = await asyncio.gather(*(show.show(deadline=seconds) for _, show in shows))
        tokens = await asyncio.gather(*(show.token_status() for _, show in shows))
        rows = [(name, r, t) for (name, _), r, t in zip(shows, results, tokens, strict=True)]
        payload = accounts_summary_message(rows, clock())
        await ctx.reply(payload["text"], payload.get("blocks"))

    return handle


def status_summary_command(shows: Sequence[tuple[str, ShowService]], clock: Clock) -> Handler:
    async def handle(ctx: CommandContext) -> None:
        _refuse_unknown(ctx, [name for name, _ in shows])
        views = await asyncio.gather(*(show.status() for _, show in shows))
        payload = accounts_status_message(
            [(name, view) for (name, _), view in zip(shows, views, strict=True)], clock()
        )
        await ctx.reply(payload["text"], payload.get("blocks"))

    return handle


def _refuse_unknown(ctx: CommandContext, names: Sequence[str]) -> None:
    word = ctx.args.split(" ", 1)[0]
    if word:
        raise UserFacingError(
            f"There is no account {code(word[:40])}. The accounts are {names_list(names)}.",
            code="unknown_account",
        )
