"""The watchers: gather the facts, ask the rules (`bot.watch.rules`), post deduplicated
alerts. Each check is one method the scheduler runs (registered in `bot.app`).

- `token_check`: turns "the token is dead" into state (a profile call catches a token
  Upstox dropped; the 03:30 IST expiry needs no call) and posts the login alert once per
  outage. Reads elsewhere only record a dead token; this check (and the apply flow after
  a change) is where the channel hears about it.
- `ip_watch`: is this host's public IP registered (the drift alert), and has the weekly
  window reopened while someone waits for it? At most one Upstox call per run, skipped
  when neither could use it.
- `morning_check`: nobody is logged in and the market opens soon.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.config import Settings
from bot.home.service import HomePublisher
from bot.ist import Clock
from bot.login.gateway import UpstoxGateway
from bot.login.service import LoginAlerts, death_of
from bot.login.tokens import NotLoggedIn, TokenService
from bot.public_ip import PublicIpLookup
from bot.show.week_rule import WeekRule
from bot.slack.alerts import Alerts
from bot.store.database import Database
from bot.store.models import ChangeRequest
from bot.upstox import StaticIps, UpstoxTokenInvalid
from bot.watch.blocks import drift_cleared, drift_started, morning_reminder, window_reopened
from bot.watch.rules import (
    DRIFT,
    is_drifting,
    morning_reminder_condition,
    window_reopened_condition,
)
from bot.week_window import ChangeWindow

log = logging.getLogger(__name__)


class Watcher:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        tokens: TokenService,
        gateway: UpstoxGateway,
        alerts: Alerts,
        login_alerts: LoginAlerts,
        public_ip: PublicIpLookup,
        home: HomePublisher,
        week_rule: WeekRule,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._week_rule = week_rule
        self._db = db
        self._tokens = tokens
        self._gateway = gateway
        self._alerts = alerts
        self._login_alerts = login_alerts
        self._public_ip = public_ip
        self._home = home
        self._clock = clock

    # -- the token -------------------------------------------------------------------------

    async def token_check(self, *, ask_upstox: bool = True) -> None:
        """At most one Upstox call (a profile read, only while the token looks valid).

        UpstoxUnavailable/RateLimited propagate so that the scheduler backs off.
        """
        status = await self._tokens.status()  # records a token past its 03:30 IST expiry
        if status.health == "valid" and ask_upstox:
            try:
                await self._gateway.profile()
            except (UpstoxTokenInvalid, NotLoggedIn):
                log.info("token check: the Upstox session is over")
                status = await self._tokens.status()
        death = death_of(status)
        if death is None:
            return
        if await self._login_alerts.logged_out(death):
            self._home.refresh_soon()

    # -- the registered IPs ----------------------------------------------------------------

    async def ip_watch(self) -> None:
        lookup = self._public_ip
        waiting = await self._db.requests.list_open(self._settings.account)
        drift_active = await self._alerts.is_active(DRIFT)
        if not lookup.configured and not waiting and not drift_active:
            return
        lookup.forget()  # a check every few minutes can afford a fresh answer
        public_ip = await lookup.current()
        if public_ip is None and not waiting and not drift_active:
            return
        try:
            ips = await self._gateway.static_ips()
        except (NotLoggedIn, UpstoxTokenInvalid):
            return  # nothing to compare with; the token check alerts about the login
        window = await self._week_rule.window(ips, self._clock())
        drifting = drift_active
        if public_ip is not None:
            drifting = await self._check_drift(public_ip, ips, window)
        await self._check_window(window, waiting=waiting, drift_ip=public_ip if drifting else None)

    async def _check_drift(self, public_ip: str, ips: StaticIps, window: ChangeWindow) -> bool:
        """Start or clear the drift alert; True when this host's IP is not registered."""
        primary, secondary = ips.primary_ip, ips.secondary_ip
        drifting = is_drifting(public_ip, primary, secondary)
        if drifting:
            text, blocks = drift_started(public_ip, primary, secondary, window)
            changed = await self._alerts.start(
                DRIFT, text, blocks, details={"public_ip": public_ip}
            )
        else:
            text, blocks = drift_cleared(public_ip, primary, secondary)
            changed = await self._alerts.clear(DRIFT, text, blocks)
        if changed:
            log.info("drift %s for %s", "started" if drifting else "cleared", public_ip)
            self._home.refresh_soon()
        return drifting

    async def _check_window(
        self, window: ChangeWindow, *, waiting: Sequence[ChangeRequest], drift_ip: str | None
    ) -> None:
        """The "change window reopened" note: once per lock period, when someone waits."""
        condition = window_reopened_condition(
            window, self._clock(), request_waiting=bool(waiting), drifting=drift_ip is not None
        )
        if condition is None:
            return
        text, blocks = window_reopened(window, waiting=list(waiting), drift_ip=drift_ip)
        if await self._alerts.start(condition, text, blocks):
            self._home.refresh_soon()

    # -- the morning -------------------------------------------------------------------------

    async def morning_check(self) -> None:
        """No Upstox call: the stored token state is enough (the token check keeps it honest)."""
        now = self._clock()
        status = await self._tokens.status()
        condition = morning_reminder_condition(
            now, self._settings.morning_reminder_at, logged_in=status.health == "valid"
        )
        if condition is None:
            return
        text, blocks = morning_reminder(status.describe(), now)
        await self._alerts.start(condition, text, blocks)
