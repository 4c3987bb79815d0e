"""The watchers' alert messages: what happened, what it means for trading, what to do.

Pure builders returning `(text, blocks)`; `text` is the notification fallback and says the
same thing in one paragraph.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.ist import format_ist
from bot.slack import blocks as bk
from bot.store.models import ChangeRequest
from bot.week_window import ChangeWindow

Message = tuple[str, list[dict[str, Any]]]


def _registered(primary: str | None, secondary: str | None) -> str:
    if not primary and not secondary:
        return "no IP registered"
    parts = [f"primary `{primary or '—'}`"]
    if secondary:
        parts.append(f"secondary `{secondary}`")
    return ", ".join(parts)


def _window_line(window: ChangeWindow) -> str:
    if window.allowed:
        return "The weekly change window is open now."
    assert window.next_allowed_at is not None
    return (
        f"The weekly change window is closed until {format_ist(window.next_allowed_at)} "
        "(the bot's guess; Upstox decides)."
    )


def drift_started(
    public_ip: str, primary: str | None, secondary: str | None, window: ChangeWindow
) -> Message:
    what = (
        f":warning: *This host's public IP `{public_ip}` is not registered with Upstox* "
        f"(registered: {_registered(primary, secondary)})."
    )
    means = (
        "Orders sent from this host will be rejected by Upstox (UDAPI1154: "
        "IP not registered) until the registered IPs include it."
    )
    todo = (
        f"What to do: `/staticip set {public_ip} [<secondary>] <reason>` to request the "
        f"change. {_window_line(window)} A change logs out every Upstox session."
    )
    text = f"{what} {means} {todo}".replace("*", "")
    return bk.text_and_blocks(text, [bk.section(what), bk.section(means), bk.context(todo)])


def drift_cleared(public_ip: str, primary: str | None, secondary: str | None) -> Message:
    what = (
        f":white_check_mark: *This host's public IP `{public_ip}` is registered with Upstox "
        f"again* ({_registered(primary, secondary)}). Orders from this host are accepted."
    )
    return bk.text_and_blocks(what.replace("*", ""), [bk.section(what)])


def window_reopened(
    window: ChangeWindow,
    *,
    waiting: list[ChangeRequest],
    drift_ip: str | None,
) -> Message:
    assert window.next_allowed_at is not None
    what = (
        ":unlock: *The weekly change window has reopened* "
        f"(since {format_ist(window.next_allowed_at)}, the bot's guess; Upstox decides)."
    )
    lines = []
    for request in waiting:
        proposed = _registered(request.proposed_primary, request.proposed_secondary)
        lines.append(
            f"• Request `{request.id}` by <@{request.requester_id}> is {request.state.value}: "
            f"{proposed}."
        )
    if drift_ip is not None:
        lines.append(
            f"• This host's public IP `{drift_ip}` is still not registered: orders from here "
            f"are rejected. `/staticip set {drift_ip} [<secondary>] <reason>`"
        )
    todo = "\n".join(lines)
    text = f"{what} {todo}".replace("*", "")
    return bk.text_and_blocks(text, [bk.section(what), *([bk.section(todo)] if todo else [])])


def morning_reminder(token_line: str, market_day: datetime) -> Message:
    what = (
        f":alarm_clock: *Nobody is logged in to Upstox for {format_ist(market_day)[:15]}*: "
        f"{token_line}."
    )
    means = "Orders and IP changes fail until someone logs in (market opens 09:15 IST)."
    todo = "What to do: `/staticip login` (or the *Log in* button on the bot's Home tab)."
    text = f"{what} {means} {todo}".replace("*", "")
    return bk.text_and_blocks(text, [bk.section(what), bk.section(means), bk.context(todo)])
