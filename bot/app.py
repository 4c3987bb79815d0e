"""The composition root: `build(settings)` makes every service once, finished and wired,
and `Bot` starts, schedules and stops them.

Nothing else constructs a service, so this file is the map of who talks to whom. The
order below is the dependency order (each line uses only what is above it); the two
cross-capability calls that point upward (a login finishing a waiting change, a change
refreshing the App Home) are passed in as the `Reconciler` and `HomeRefresh` that
`bot.login.service` declares.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time, timedelta

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.config import Settings
from bot.home import listeners as home_listeners
from bot.home.service import HomePublisher
from bot.ist import Clock, system_clock
from bot.log import redactor
from bot.login import listeners as login_listeners
from bot.login.access import LoginAccess
from bot.login.apps import apps_from_settings
from bot.login.blocks import SlackLoginMessages
from bot.login.delivery import TokenDelivery
from bot.login.gateway import UpstoxGateway
from bot.login.morning import MorningTokenRequest
from bot.login.service import LoginAlerts, LoginLinks, LoginService
from bot.login.tokens import TokenService
from bot.public_ip import PublicIpLookup
from bot.requests import listeners as request_listeners
from bot.requests.apply import ChangeApplier
from bot.requests.blocks import request_card
from bot.requests.cards import RequestCards
from bot.requests.schedule import ScheduledChanges
from bot.requests.service import ChangeRequestService
from bot.scheduler import Scheduler
from bot.secret_key import resolve_secret_key
from bot.show import listeners as show_listeners
from bot.show.service import ShowService
from bot.show.week_rule import WeekRule
from bot.slack.alerts import Alerts
from bot.slack.audience import SlackAudience, SlackUserGroups
from bot.slack.channel import SlackChannel
from bot.slack.commands import Handler, register_command
from bot.slack.identity import SlackIdentity, SlackTokenRejected, SlackUnreachable
from bot.slack.respond import ResponseSession
from bot.slack.retry import slack_retry_handlers
from bot.store.database import Database, connect_database
from bot.upstox import UpstoxClient
from bot.watch.service import Watcher

log = logging.getLogger(__name__)

# Upstox tokens die at 03:30 IST; one minute later the check finds it without waiting for
# the next periodic run.
TOKEN_EXPIRY_CHECK_AT = time(3, 31)
# How far apart two replicas' clocks may be when one judges the other's "applying" row.
CLOCK_SKEW_ALLOWANCE = timedelta(seconds=5)


class _DropEnvTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that "you
    gave `client` as well, `token` will be unused": untrue here, and noise on every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


BOLT_LOGGER = logging.getLogger("bot.slack.bolt")
BOLT_LOGGER.addFilter(_DropEnvTokenWarning())


def make_slack_client(settings: Settings, *, with_token: bool = True) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value() if with_token else None,
        base_url=settings.slack_api_base,
        timeout=10,
        # Retries, but never one that could post a message twice (bot.slack.retry).
        retry_handlers=slack_retry_handlers(max_retry_count=2),
    )


@dataclass(frozen=True)
class Bot:
    """Every service of one running bot. Immutable: built once by `build`."""

    settings: Settings
    clock: Clock
    db: Database
    slack: AsyncWebClient
    identity: SlackIdentity
    channel: SlackChannel
    upstox: UpstoxClient
    responses: ResponseSession
    public_ip: PublicIpLookup
    scheduler: Scheduler
    tokens: TokenService
    gateway: UpstoxGateway
    alerts: Alerts
    links: LoginLinks
    login_alerts: LoginAlerts
    home: HomePublisher
    show: ShowService
    requests: ChangeRequestService
    delivery: TokenDelivery
    login: LoginService
    morning_token_request: MorningTokenRequest
    watcher: Watcher

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start-up, in order: schema, seed token, the token's state (an alert if it is
        dead), a change left unfinished by a crash, a token webhook delivery left
        unfinished, then the periodic checks."""
        await self.db.create_schema()
        await self.tokens.seed(self.settings.upstox_access_token)
        try:
            await self.watcher.token_check(ask_upstox=False)
        except Exception:
            log.exception("start-up token check failed")
        await self.requests.reconcile_soon()
        await self.delivery.resume()
        await self.requests.arm_expiry_timers()
        # A change scheduled for a time the bot was down at: applied now only if safe.
        await self.requests.schedule.arm_all()
        self._schedule_jobs()
        self.scheduler.start()
        await self._verify_slack_token()

    async def _verify_slack_token(self) -> None:
        """`auth.test` once (the server has already refused a rejected token, see
        `bot.__main__`); when Slack is unreachable, start anyway and retry in the background."""
        if self.identity.known is not None:
            return
        try:
            await self.identity.verify()
        except SlackTokenRejected as error:
            log.error("Slack refused SLACK_BOT_TOKEN (%s): fix it and restart", error.error)
        except SlackUnreachable as error:
            log.warning(
                "Slack is unreachable (%s): starting anyway, retrying in the background", error
            )
            self.identity.retry_in_background()

    async def stop(self) -> None:
        await self.identity.aclose()
        await self.scheduler.stop()
        await self.home.aclose()
        await self.requests.aclose()
        await self.delivery.aclose()
        await self.upstox.aclose()
        await self.responses.aclose()
        await self.public_ip.aclose()
        await self.db.close()

    def _schedule_jobs(self) -> None:
        settings = self.settings
        every = settings.check_interval
        add, daily = self.scheduler.add, self.scheduler.add_daily
        add("expiry", every, self._expire)
        add("reconcile", every, self.requests.reconcile_unfinished)
        add("scheduled", every, self.requests.schedule.start_due)
        add("token_check", every, self.watcher.token_check)
        daily("token_check_0331", TOKEN_EXPIRY_CHECK_AT, self.watcher.token_check)
        add("ip_watch", every, self.watcher.ip_watch)
        # Who a seeded token belongs to: asked at start-up, then until Upstox has answered.
        add("upstox_user", every, self._learn_upstox_user, first_run_after=timedelta(0))
        add("token_pickup", every, self.delivery.pickup_check)
        add("token_file_sync", every, self.delivery.sync_files)
        add("token_webhook_resume", every, self.delivery.resume)
        morning_request = self.morning_token_request.run
        add("morning_token_request", every, morning_request)
        daily(
            "morning_token_request_daily", self.settings.morning_token_request_at, morning_request
        )
        add("morning", every, self.watcher.morning_check)
        daily("morning_daily", self.settings.morning_reminder_at, self.watcher.morning_check)

    async def _learn_upstox_user(self) -> None:
        await self.login.learn_seeded_user()

    async def _expire(self) -> None:
        await self.requests.expire_due()  # each expired card's update refreshes the Home

    # -- Slack -------------------------------------------------------------------------

    def bolt_app(self) -> AsyncApp:
        """The Bolt app with every listener, and every value passed explicitly (Bolt
        would otherwise read environment variables)."""
        settings = self.settings
        signing_secret = settings.slack_signing_secret
        app = AsyncApp(
            # Bolt's own lazy auth.test is replaced by ours (`SlackIdentity`, asked once at
            # start-up): a token-less client makes Bolt use `authorize`, and each request's
            # client gets the bot token from its answer.
            client=make_slack_client(settings, with_token=False),
            authorize=self.identity.bolt_authorize(),
            # An explicit "" (never None) keeps Bolt from reading SLACK_SIGNING_SECRET.
            signing_secret=signing_secret.get_secret_value() if signing_secret else "",
            # bot.edge checks the signature on the raw body before Bolt parses anything
            # (HTTP mode). Bolt's own check would be the same check on the same bytes, and
            # when it refuses it logs the whole body: it is off.
            request_verification_enabled=False,
            process_before_response=False,
            logger=BOLT_LOGGER,
        )
        register_command(
            app,
            self.command_handlers(),
            approval_channel=settings.slack_approval_channel,
            responses=self.responses,
        )
        request_listeners.register(app, self.requests, self.channel)
        login_listeners.register(app)
        home_listeners.register(app, self.home, self.links, self.clock)
        return app

    def command_handlers(self) -> dict[str, Handler]:
        """`/staticip <subcommand>` → the feature that answers it (`help` is the router's)."""
        channel = self.channel
        return {
            "show": show_listeners.show_command(self.show, self.settings.reply_deadline),
            "status": show_listeners.status_command(self.show),
            "set": request_listeners.set_command(self.requests, channel),
            "cancel": request_listeners.cancel_command(
                self.requests, self.settings.slack_approval_channel
            ),
            "history": request_listeners.history_command(self.requests),
            "login": login_listeners.login_command(self.links, self.login, self.clock),
        }


def build(settings: Settings, *, clock: Clock = system_clock) -> Bot:
    """Every service, once, in dependency order. Nothing here does I/O: `Bot.start` does."""
    secret_key = resolve_secret_key(settings)
    redactor.add([secret_key.get_secret_value()])
    account = settings.account
    db = connect_database(
        settings.database_url, clock=clock, secret_key=secret_key.get_secret_value()
    )
    slack = make_slack_client(settings)
    upstox = UpstoxClient(
        settings.upstox_base,
        timeout=settings.upstox_timeout.total_seconds(),
        observe=metrics.upstox_call,
    )
    channel = SlackChannel(slack, settings.slack_approval_channel)
    # This host's public IP (None when PUBLIC_IP_URL is unset): show and drift alerts.
    public_ip = PublicIpLookup(
        str(settings.public_ip_url) if settings.public_ip_url else None, clock=clock
    )
    tokens = TokenService(db, account, clock)
    # The trading systems' apps (UPSTOX_TRADING_APPS): a token each, never used for the IP API.
    app_tokens = {
        app.name: TokenService(db, account, clock, app=app.name)
        for app in settings.upstox_apps
        if app.name != tokens.app
    }
    week_rule = WeekRule(db, account, clock)
    gateway = UpstoxGateway(upstox, tokens, clock)
    alerts = Alerts(db, channel, account, clock)
    groups = SlackUserGroups(slack, clock, settings.approver_cache_ttl)
    approvers = SlackAudience(settings.slack_approvers, groups, role="approver")
    requesters = SlackAudience(settings.slack_requesters, groups, role="requester")
    links = LoginLinks(
        settings=settings,
        db=db,
        upstox=upstox,
        secret_key=secret_key,
        clock=clock,
        access=LoginAccess(approvers=approvers, requesters=requesters),
    )
    login_alerts = LoginAlerts(
        links=links, alerts=alerts, channel=channel, messages=SlackLoginMessages(clock)
    )
    delivery = TokenDelivery(
        account=account,
        apps=apps_from_settings(settings),
        db=db,
        tokens=tokens,
        alerts=alerts,
        channel=channel,
        secret_key=secret_key,
        clock=clock,
        webhook_give_up=settings.token_webhook_give_up,
        pickup_alert_after=settings.token_pickup_alert_after,
        app_tokens=app_tokens,
    )
    home = HomePublisher(
        account=account,
        db=db,
        tokens=tokens,
        gateway=gateway,
        alerts=alerts,
        channel=channel,
        week_rule=week_rule,
        clock=clock,
        delivery=delivery,
    )
    show = ShowService(
        settings=settings,
        db=db,
        tokens=tokens,
        gateway=gateway,
        public_ip=public_ip,
        week_rule=week_rule,
        clock=clock,
        delivery=delivery,
    )
    cards = RequestCards(
        channel,
        request_card,
        clock,
        home,
        approvals_required=settings.approvals_required,
        approvals=db.approvals,
        public_ip=public_ip,
        market=settings.market,
        after_close=settings.apply_after_close_at,
    )
    applier = ChangeApplier(
        db=db,
        tokens=tokens,
        gateway=gateway,
        login_alerts=login_alerts,
        cards=cards,
        week_rule=week_rule,
        account=account,
        clock=clock,
        # Settling: twice the PUT's total deadline (UPSTOX_TIMEOUT), plus clock skew.
        put_grace=settings.upstox_timeout * 2 + CLOCK_SKEW_ALLOWANCE,
        app_tokens=tuple(app_tokens.values()),
    )
    requests = ChangeRequestService(
        settings=settings,
        db=db,
        tokens=tokens,
        gateway=gateway,
        approvers=approvers,
        week_rule=week_rule,
        requesters=requesters,
        cards=cards,
        applier=applier,
        schedule=ScheduledChanges(
            settings=settings,
            db=db,
            gateway=gateway,
            week_rule=week_rule,
            cards=cards,
            applier=applier,
            clock=clock,
        ),
        clock=clock,
    )
    login = LoginService(
        settings=settings,
        db=db,
        upstox=upstox,
        tokens=tokens,
        links=links,
        alerts=login_alerts,
        reconciler=requests,
        home=home,
        clock=clock,
        delivery=delivery,
        app_tokens=app_tokens,
    )
    morning_token_request = MorningTokenRequest(
        account=account,
        at=settings.morning_token_request_at,
        enabled=settings.morning_token_request,
        db=db,
        tokens=tokens,
        login=login,
        channel=channel,
        delivery=delivery,
        clock=clock,
        app_tokens=app_tokens,
    )
    watcher = Watcher(
        settings=settings,
        db=db,
        tokens=tokens,
        gateway=gateway,
        alerts=alerts,
        login_alerts=login_alerts,
        public_ip=public_ip,
        home=home,
        week_rule=week_rule,
        clock=clock,
    )
    return Bot(
        settings=settings,
        clock=clock,
        db=db,
        slack=slack,
        identity=SlackIdentity(slack),
        channel=channel,
        upstox=upstox,
        responses=ResponseSession(),
        public_ip=public_ip,
        scheduler=Scheduler(clock),
        tokens=tokens,
        gateway=gateway,
        alerts=alerts,
        links=links,
        login_alerts=login_alerts,
        home=home,
        show=show,
        requests=requests,
        delivery=delivery,
        login=login,
        morning_token_request=morning_token_request,
        watcher=watcher,
    )
