"""The objects one running bot shares: settings, clock, store, Upstox client, Slack client.

Built once per process by `bot.web.create_app`; listeners, routes and jobs receive it
explicitly instead of reaching for globals, so tests can run several bots in one process.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.ist import Clock, system_clock
from bot.jobs.scheduler import Scheduler
from bot.log import redactor
from bot.public_ip import PublicIpLookup
from bot.secret_key import resolve_secret_key
from bot.service.alerts import Alerts
from bot.service.approvers import SlackAudience
from bot.service.change_requests import ChangeRequestService
from bot.service.login import LoginService
from bot.service.request_cards import RequestCards
from bot.service.tokens import TokenService
from bot.service.upstox_gateway import UpstoxGateway
from bot.slack.blocks.login import SlackLoginMessages
from bot.slack.blocks.request_card import request_card
from bot.slack.home import HomePublisher
from bot.slack.notifier import SlackNotifier
from bot.slack.respond import ResponseSession
from bot.slack.usergroups import SlackUserGroups
from bot.store.database import Database, open_database
from bot.upstox import UpstoxClient

log = logging.getLogger(__name__)


def make_slack_client(settings: Settings) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class NotStartedError(RuntimeError):
    pass


class Runtime:
    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.slack = make_slack_client(settings)
        self.upstox = UpstoxClient(
            settings.upstox_base, timeout=settings.upstox_timeout.total_seconds()
        )
        self.notifier = SlackNotifier(self.slack, settings.slack_approval_channel)
        self.responses = ResponseSession()
        # This host's public IP (None when PUBLIC_IP_URL is unset): show and drift alerts.
        self.public_ip = PublicIpLookup(
            str(settings.public_ip_url) if settings.public_ip_url else None, clock=clock
        )
        # Jobs may be added before or after start; web.py's lifespan starts and stops it.
        self.scheduler = Scheduler(clock)
        # The App Home: publish on open, re-publish for recent viewers on state changes.
        self.home = HomePublisher(self)
        self._db: Database | None = None
        self._secret_key: SecretStr | None = None
        self._tokens: TokenService | None = None
        self._gateway: UpstoxGateway | None = None
        self._alerts: Alerts | None = None
        self._login: LoginService | None = None
        self._requests: ChangeRequestService | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise NotStartedError("runtime not started")
        return self._db

    @property
    def tokens(self) -> TokenService:
        if self._tokens is None:
            raise NotStartedError("runtime not started")
        return self._tokens

    @property
    def upstox_gateway(self) -> UpstoxGateway:
        """Token-aware Upstox calls; use this rather than `upstox` for the account's calls."""
        if self._gateway is None:
            raise NotStartedError("runtime not started")
        return self._gateway

    @property
    def alerts(self) -> Alerts:
        if self._alerts is None:
            raise NotStartedError("runtime not started")
        return self._alerts

    @property
    def requests(self) -> ChangeRequestService:
        """Change requests: ask, approve/reject, cancel, expire, apply, reconcile."""
        if self._requests is None:
            raise NotStartedError("runtime not started")
        return self._requests

    @property
    def login(self) -> LoginService:
        """Login links, the OAuth callback, the Access Token Request, the token-dead alert."""
        if self._login is None:
            raise NotStartedError("runtime not started")
        return self._login

    @property
    def secret_key(self) -> SecretStr:
        if self._secret_key is None:
            raise NotStartedError("runtime not started")
        return self._secret_key

    async def start(self) -> None:
        self._secret_key = resolve_secret_key(self.settings)
        redactor.add([self._secret_key.get_secret_value()])
        self._db = await open_database(
            self.settings.database_url,
            clock=self.clock,
            secret_key=self._secret_key.get_secret_value(),
        )
        account = self.settings.account
        self._tokens = TokenService(self._db, account, self.clock)
        self._gateway = UpstoxGateway(self.upstox, self._tokens, self.clock)
        self._alerts = Alerts(self._db, self.notifier, account, self.clock)
        await self._tokens.seed(self.settings.upstox_access_token)
        self._login = LoginService(
            settings=self.settings,
            db=self._db,
            upstox=self.upstox,
            tokens=self._tokens,
            alerts=self._alerts,
            notifier=self.notifier,
            messages=SlackLoginMessages(self.clock),
            secret_key=self._secret_key,
            clock=self.clock,
        )
        self._tokens.on_dead.append(self._login.on_token_dead)
        await self._login.check_at_start()
        groups = SlackUserGroups(self.slack, self.clock, self.settings.approver_cache_ttl)
        self._requests = ChangeRequestService(
            settings=self.settings,
            db=self._db,
            tokens=self._tokens,
            gateway=self._gateway,
            approvers=SlackAudience(self.settings.slack_approvers, groups, role="approver"),
            requesters=SlackAudience(self.settings.slack_requesters, groups, role="requester"),
            cards=RequestCards(self.notifier, request_card, self.clock, self.refresh_home),
            clock=self.clock,
        )
        self._tokens.on_login.append(self._requests.reconcile_soon)
        await self._requests.reconcile_soon()  # a change left unfinished by a crash

    async def stop(self) -> None:
        if self._requests is not None:
            await self._requests.aclose()
        await self.upstox.aclose()
        await self.responses.aclose()
        await self.public_ip.aclose()
        if self._db is not None:
            await self._db.close()

    def refresh_home(self) -> None:
        """Re-publish the App Home for recent viewers, in the background; never raises.

        Call it after anything the Home shows has changed (a request, a decision, a login,
        an alert).
        """
        self.home.refresh_soon()

    async def database_reachable(self) -> bool:
        if self._db is None:
            return False
        return await self._db.ping()
