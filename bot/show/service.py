"""What `/staticip show` and `/staticip status` report, gathered with no Slack in it.

`ShowService.show` asks Upstox (through the token-aware gateway) and is bounded by a deadline:
whatever happens — a dead token, an Upstox error, Upstox hanging while the client
retries — it returns either a `ShowOverview` or a `ShowFailure` with the sentence to show.

`ShowService.status` never calls Upstox: it reads the token state, the open requests and the
configuration, so it still works when Upstox is down or the session is dead.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.config import Settings
from bot.errors import UserFacingError
from bot.ips import same_ip
from bot.ist import Clock
from bot.login.delivery import AppDeliveries, TokenDelivery
from bot.login.gateway import UpstoxGateway
from bot.login.tokens import TokenService, TokenStatus
from bot.public_ip import PublicIpLookup
from bot.show.week_rule import WeekRule
from bot.store.database import Database
from bot.store.models import ChangeRequest
from bot.upstox import StaticIps, UpstoxError
from bot.upstox_messages import describe_upstox_error, upstox_timed_out
from bot.week_window import ChangeWindow, change_window

log = logging.getLogger(__name__)

HostMatch = Literal["primary", "secondary", "not_registered", "unknown", "not_configured"]


@dataclass(frozen=True, slots=True)
class HostIp:
    """This host's public IP and whether Upstox has it registered."""

    match: HostMatch
    ip: str | None = None


@dataclass(frozen=True, slots=True)
class ShowOverview:
    now: datetime
    ips: StaticIps
    window: ChangeWindow
    host: HostIp
    open_requests: tuple[ChangeRequest, ...] = ()


FailureKind = Literal["not_logged_in", "upstox", "timeout"]


@dataclass(frozen=True, slots=True)
class ShowFailure:
    kind: FailureKind
    message: str
    """Plain text; may quote Upstox, so escape it before putting it in mrkdwn."""


@dataclass(frozen=True, slots=True)
class StatusOverview:
    now: datetime
    token: TokenStatus
    last_success_at: datetime | None
    open_requests: tuple[ChangeRequest, ...]
    approval_channel: str
    approvers: tuple[str, ...]
    requesters: tuple[str, ...]
    deliveries: tuple[AppDeliveries, ...] = ()


class ShowService:
    """Gathers what `/staticip show` and `/staticip status` report. Reads only: it never
    posts, and a token found dead on the way is merely recorded (by the gateway)."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        tokens: TokenService,
        gateway: UpstoxGateway,
        public_ip: PublicIpLookup,
        week_rule: WeekRule,
        clock: Clock,
        delivery: TokenDelivery | None = None,
    ) -> None:
        self._settings = settings
        self._delivery = delivery
        self._week_rule = week_rule
        self._db = db
        self._tokens = tokens
        self._gateway = gateway
        self._public_ip = public_ip
        self._clock = clock

    async def token_status(self) -> TokenStatus:
        return await self._tokens.status()

    async def show(self, *, deadline: float) -> ShowOverview | ShowFailure:
        """The registered IPs, the change window and this host's IP, within `deadline` s."""
        try:
            return await asyncio.wait_for(self._show(), timeout=deadline)
        except TimeoutError:
            log.warning("show: Upstox did not answer within %.1f s", deadline)
            return ShowFailure("timeout", upstox_timed_out(deadline))
        except UserFacingError as error:  # NotLoggedIn: no usable token
            return ShowFailure("not_logged_in", error.user_message)
        except UpstoxError as error:
            return ShowFailure("upstox", describe_upstox_error(error))

    async def _show(self) -> ShowOverview:
        # This host's IP and the open requests are looked up while Upstox answers, so that
        # only rendering is left when the (shared, possibly slow) IP read returns.
        host_lookup = asyncio.create_task(self._public_ip.current())
        open_lookup = asyncio.create_task(self._db.requests.list_open(self._settings.account))
        learned_lookup = asyncio.create_task(self._week_rule.learned())
        lookups = (host_lookup, open_lookup, learned_lookup)
        try:
            ips = await self._gateway.static_ips()
            host_ip = await host_lookup
            open_requests = await open_lookup
            learned = await learned_lookup
        except BaseException:
            for task in lookups:
                task.cancel()
            await asyncio.gather(*lookups, return_exceptions=True)
            raise
        now = self._clock()
        window = change_window(ips.primary_ip_updated_at, ips.secondary_ip_updated_at, now, learned)
        return ShowOverview(
            now=now,
            ips=ips,
            window=window,
            host=host_match(ips, host_ip, configured=self._public_ip.configured),
            open_requests=tuple(open_requests),
        )

    async def status(self) -> StatusOverview:
        settings = self._settings
        token = await self._tokens.status()
        open_requests = await self._db.requests.list_open(settings.account)
        return StatusOverview(
            now=self._clock(),
            token=token,
            last_success_at=self._gateway.last_success_at,
            open_requests=tuple(open_requests),
            approval_channel=settings.slack_approval_channel,
            approvers=tuple(settings.slack_approvers),
            requesters=tuple(settings.slack_requesters),
            deliveries=await self._delivery.report() if self._delivery is not None else (),
        )


def host_match(ips: StaticIps, host_ip: str | None, *, configured: bool) -> HostIp:
    if not configured:
        return HostIp("not_configured")
    if host_ip is None:
        return HostIp("unknown")
    if same_ip(ips.primary_ip, host_ip):
        return HostIp("primary", host_ip)
    if same_ip(ips.secondary_ip, host_ip):
        return HostIp("secondary", host_ip)
    return HostIp("not_registered", host_ip)
