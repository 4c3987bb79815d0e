"""Block Kit for logging in to Upstox: the login button, the `/staticip login` answers, the
token-death alert and the login confirmation. Pure functions; no token ever goes in here
(the link carries only a signed state)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.config import OWN_APP_NAME
from bot.errors import UserFacingError
from bot.ist import Clock, format_ist
from bot.login.service import ALERT_REQUESTER, MORNING_REQUESTER, LoginLink, LoginResult
from bot.login.tokens import TokenDeath
from bot.slack import blocks as bk
from bot.slack.mrkdwn import escape
from bot.store.models import TokenRequest, TokenSource, TokenState

Block = dict[str, Any]

LOGIN_ACTION_ID = "upstox_login"
LOGIN_BUTTON_TEXT = "Log in to Upstox"
ACTIONS_BLOCK_ID = "upstox_login"

_TRADING_IMPACT = (
    "Until someone logs in again, orders from the trading system and the bot's own Upstox "
    "calls will fail."
)


def login_button(link: LoginLink, *, text: str = LOGIN_BUTTON_TEXT) -> bk.ButtonElement:
    """A URL button to Upstox's login dialog (Slack still sends an action to acknowledge)."""
    return bk.button(text, LOGIN_ACTION_ID, url=link.url, style="primary")


def login_actions(link: LoginLink) -> bk.ActionsBlock:
    """An actions block with the login button."""
    return bk.actions(login_button(link), block_id=ACTIONS_BLOCK_ID)


def validity(link: LoginLink, now: datetime) -> str:
    minutes = max(1, round((link.expires_at - now).total_seconds() / 60))
    span = f"{minutes} minutes" if minutes < 120 else f"{round(minutes / 60)} hours"
    return f"works once, for {span} (until {format_ist(link.expires_at)})"


def login_prompt(link: LoginLink, now: datetime) -> tuple[str, list[Block]]:
    """The ephemeral answer to `/staticip login`."""
    which = "" if link.app == OWN_APP_NAME else f" for app {link.app}"
    text = f"Log in to Upstox{which}: the link {validity(link, now)}."
    blocks = [
        bk.section(
            f"*Log in to Upstox{which}*\nOpen the link, log in on Upstox's own page, and the bot "
            "stores the new session and confirms in the approvals channel."
        ),
        login_actions(link),
        bk.context(
            f"The link is yours: it {validity(link, now)}. Prefer approving on your phone? "
            "Use `/staticip login phone`."
        ),
    ]
    return bk.text_and_blocks(text, blocks)


def token_request_started(request: TokenRequest) -> str:
    """The ephemeral answer to `/staticip login phone`."""
    return (
        "Asked Upstox for a new session. Approve it on your phone (Upstox app notification "
        "or WhatsApp) or under Developer Apps on account.upstox.com; the request stays open "
        f"until {format_ist(request.expires_at)}. The bot confirms in the approvals channel "
        "when the token arrives. If nothing comes, use `/staticip login` to log in in the "
        "browser."
    )


def token_requests_started(started: Sequence[tuple[str, TokenRequest | UserFacingError]]) -> str:
    """The ephemeral answer to `/staticip login phone` with several apps: one request each."""
    lines = [
        "Asked Upstox for a new session of every app: approve each request on your phone "
        "(Upstox app notification or WhatsApp). The bot confirms each app in the approvals "
        "channel when its token arrives."
    ]
    for name, outcome in started:
        if isinstance(outcome, TokenRequest):
            lines.append(f"• {name}: open until {format_ist(outcome.expires_at)}")
        else:
            lines.append(
                f"• {name}: not started ({outcome.user_message}); use `/staticip login {name}`"
            )
    return "\n".join(lines)


def _death_headline(death: TokenDeath) -> str:
    if death.state is TokenState.EXPIRED:
        return "The Upstox session expired (tokens end daily at 03:30 IST)."
    return f"The Upstox session is over: {death.reason}."


def token_dead_alert(
    death: TokenDeath, link: LoginLink, now: datetime, others: Sequence[LoginLink] = ()
) -> tuple[str, list[Block]]:
    """The one alert posted in the approvals channel when the token dies; with several
    apps, a login button for each trading system's app too."""
    headline = _death_headline(death)
    text = f"Upstox is logged out. {headline} {_TRADING_IMPACT}"
    blocks = [
        bk.section(f":warning: *Upstox is logged out*\n{headline}"),
        bk.section(
            f"*What it means:* {_TRADING_IMPACT}\n*What to do:* log in with the button "
            "below, or run `/staticip login` (or `/staticip login phone` to approve on the "
            "phone)."
        ),
        login_actions(link),
    ]
    if others:
        names = ", ".join(other.app for other in others)
        text += f" Every app needs a new login: default, {names}."
        blocks.append(
            bk.section(
                f"*Every app is logged out:* the trading systems' apps ({names}) need a login "
                "too (`/staticip login phone` asks for every app at once)."
            )
        )
        for other in others:
            blocks.append(
                bk.actions(
                    login_button(other, text=f"Log in app {other.app}"),
                    block_id=f"{ACTIONS_BLOCK_ID}:{other.app}",
                )
            )
    blocks.append(
        bk.context(
            f"This link {validity(link, now)}; after that use `/staticip login` for a new one."
        )
    )
    return bk.text_and_blocks(text, blocks)


def logged_in_text(result: LoginResult) -> str:
    who = escape(result.user_id)
    if result.app != OWN_APP_NAME:
        who += f" for app {escape(result.app)}"
    if result.via is TokenSource.NOTIFIER:
        how = "approved on the phone"
        if result.requested_by == MORNING_REQUESTER:
            how += ", the bot's morning request"
        elif result.requested_by != ALERT_REQUESTER:
            how += f", requested by <@{result.requested_by}>"
        return f":white_check_mark: Logged in to Upstox as {who} ({how})."
    if result.requested_by == ALERT_REQUESTER:
        return f":white_check_mark: Logged in to Upstox as {who} (through the alert's login link)."
    return f":white_check_mark: Logged in to Upstox as {who} by <@{result.requested_by}>."


class SlackLoginMessages:
    """`bot.login.service.LoginMessages` in Block Kit."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def token_dead(
        self, death: TokenDeath, link: LoginLink, others: Sequence[LoginLink] = ()
    ) -> tuple[str, list[Block]]:
        return token_dead_alert(death, link, self._clock(), others)

    def logged_in(self, result: LoginResult) -> tuple[str, list[Block] | None]:
        return logged_in_text(result), None
