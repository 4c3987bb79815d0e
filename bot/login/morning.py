"""The scheduled morning Access Token Request: no browser on a normal trading morning.

Every token dies at 03:30 IST. On weekdays at `MORNING_TOKEN_REQUEST_AT` (IST, default
08:30) the bot starts Upstox's Access Token Request by itself and posts one message; the
owner taps approve on the phone, the token arrives on `/upstox/notifier` and the
after-login flow hands it to the trading system. Exactly one replica starts it each day
(claimed in the database); nothing is started on Saturday or Sunday, or when someone has
already logged in since today's 03:30 IST.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import time, timedelta

from bot.errors import UserFacingError
from bot.ist import Clock, format_ist, to_ist
from bot.login.delivery import TokenDelivery
from bot.login.service import MORNING_REQUESTER, LoginService
from bot.login.tokens import TokenService
from bot.slack.channel import SlackChannel
from bot.store.database import Database
from bot.store.models import TokenRequest

log = logging.getLogger(__name__)

JOB = "morning_token_request"
# A bot (re)started later in the morning still asks, until this long after the set time.
CATCH_UP = timedelta(hours=3)
TOKEN_EXPIRY_AT = time(3, 30)


class MorningTokenRequest:
    def __init__(
        self,
        *,
        account: str,
        at: time,
        enabled: bool,
        db: Database,
        tokens: TokenService,
        login: LoginService,
        channel: SlackChannel,
        delivery: TokenDelivery,
        clock: Clock,
        app_tokens: Mapping[str, TokenService] | None = None,
    ) -> None:
        self._account = account
        self._at = at
        self._enabled = enabled
        self._db = db
        self._tokens = tokens
        self._login = login
        self._channel = channel
        self._delivery = delivery
        self._clock = clock
        # Every app's token: the bot's own first, then the trading systems'.
        self._app_tokens = {tokens.app: tokens, **(app_tokens or {})}

    async def run(self) -> None:
        """The job (daily at the set time, and with every periodic check to catch up)."""
        now = self._clock()
        local = to_ist(now)
        if not self._enabled or local.weekday() >= 5:  # Saturday, Sunday: no trading
            return
        due = local.replace(hour=self._at.hour, minute=self._at.minute, second=0, microsecond=0)
        if not due <= local < due + CATCH_UP:
            return
        expiry = local.replace(
            hour=TOKEN_EXPIRY_AT.hour, minute=TOKEN_EXPIRY_AT.minute, second=0, microsecond=0
        )
        # Every app not logged in since today's 03:30 IST (someone may have been early).
        stale = []
        for name, tokens in self._app_tokens.items():
            status = await tokens.status()
            fresh = status.obtained_at is not None and status.obtained_at >= expiry
            if not (status.health == "valid" and fresh):
                stale.append(name)
        if not stale:
            return  # someone logged in this morning already
        if not await self._db.daily_runs.claim(JOB, self._account, local.date(), now=now):
            return  # another replica (or an earlier run) asked today
        try:
            started = await self._login.start_every_token_request(MORNING_REQUESTER, stale)
        except UserFacingError as error:
            log.warning("the morning Access Token Request failed: %s", error.code)
            await self._channel.post(
                ":warning: The bot could not start this morning's Upstox Access Token "
                f"Request. {error.user_message} Log in with `/staticip login`."
            )
            return
        requests = [r for _, r in started if isinstance(r, TokenRequest)]
        request = requests[0]
        log.info("started the morning Access Token Request(s) %s", [r.id for r in requests])
        text = (
            ":sunrise: Good morning. The bot asked Upstox for today's token: approve the "
            "Access Token Request on your phone (Upstox app or WhatsApp notification); it "
            f"can be approved until {format_ist(request.expires_at)}. The token goes to the "
            "trading system as soon as you approve. No phone? Use `/staticip login`."
        )
        if len(self._app_tokens) > 1:
            text += morning_apps_lines(started)
        posted = await self._channel.post(text)
        await self._delivery.morning_posted(posted)


def morning_apps_lines(started: Sequence[tuple[str, TokenRequest | UserFacingError]]) -> str:
    """One line per app: asked (approve one request per app), or what went wrong."""
    lines = ["", "One request per app:"]
    for name, outcome in started:
        if isinstance(outcome, TokenRequest):
            lines.append(f"• {name}: approve on the phone")
        else:
            lines.append(f"• {name}: not asked ({outcome.user_message}) — `/staticip login {name}`")
    return "\n".join(lines)
