"""The composition root: `build(settings)` makes every service once, finished and wired,
and `Bot` starts, schedules and stops them.

Each Upstox account gets its own services (`AccountBot`), built from that account's own
settings (`Settings.for_account`), so no service needs to know that other accounts exist;
the Slack client, the Upstox client, the database, the scheduler and the App Home are
shared. The Slack listeners and the Upstox routes are registered once and pick the account
(by the name typed, the request clicked, the state signed, the client id).

Nothing else constructs a service, so this file is the map of who talks to whom. The
order below is the dependency order (each line uses only what is above it); the two
cross-capability calls that point upward (a login finishing a waiting change, a change
refreshing the App Home) are passed in as the `Reconciler` and `HomeRefresh` that
`bot.login.service` declares.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time, timedelta

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.config import Account, Settings
from bot.home import listeners as home_listeners
from bot.home.service import HomeFacts, HomePublisher
from bot.ist import Clock, system_clock
from bot.log import redactor
from bot.login import listeners as login_listeners
from bot.login.access import LoginAccess
from bot.login.apps import apps_from_settings
from bot.login.blocks import SlackLoginMessages
from bot.login.delivery import TokenDelivery
from bot.login.gateway import UpstoxGateway
from bot.login.morning import MorningTokenRequest
from bot.login.service import AccountLogins, LoginAlerts, LoginLinks, LoginService
from bot.login.tokens import TokenService
from bot.public_ip import PublicIpLookup
from bot.requests import listeners as request_listeners
from bot.requests.apply import ChangeApplier
from bot.requests.blocks import request_card
from bot.requests.cards import RequestCards
from bot.requests.moves import HostMoves, MoveCards
from bot.requests.schedule import ScheduledChanges
from bot.requests.service import AccountDesk, ChangeRequestService, Desks
from bot.scheduler import Scheduler
from bot.secret_key import resolve_secret_key
from bot.show import listeners as show_listeners
from bot.show.service import ShowService
from bot.show.week_rule import WeekRule
from bot.slack.ack_first import AckFirst
from bot.slack.alerts import Alerts
from bot.slack.audience import SlackAudience, SlackUserGroups
from bot.slack.channel import SlackChannel
from bot.slack.commands import AccountCommands, CommandRouter, Handler, register_command
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
class AccountBot:
    """Every service of one Upstox account. Immutable: built once by `build`."""

    account: Account
    settings: Settings
    """The account's own view of the settings (`Settings.for_account`)."""
    channel: SlackChannel
    tokens: TokenService
    gateway: UpstoxGateway
    alerts: Alerts
    links: LoginLinks
    login_alerts: LoginAlerts
    home_facts: HomeFacts
    show: ShowService
    requests: ChangeRequestService
    delivery: TokenDelivery
    login: LoginService
    morning_token_request: MorningTokenRequest
    watcher: Watcher

    @property
    def name(self) -> str:
        return self.account.name

    async def start(self) -> None:
        """The account's part of start-up: seed token, the token's state (an alert if it
        is dead), a change left unfinished by a crash, a token webhook delivery left
        unfinished, expiry timers, scheduled changes."""
        await self.tokens.seed(self.settings.upstox_access_token)
        try:
            await self.watcher.token_check(ask_upstox=False)
        except Exception:
            log.exception("start-up token check failed (account %s)", self.name)
        await self.requests.reconcile_soon()
        await self.delivery.resume()
        await self.requests.arm_expiry_timers()
        # A change scheduled for a time the bot was down at: applied now only if safe.
        await self.requests.schedule.arm_all()

    async def stop(self) -> None:
        await self.requests.aclose()
        await self.delivery.aclose()


@dataclass(frozen=True)
class Bot:
    """Every service of one running bot: the shared ones and each account's. Immutable."""

    settings: Settings
    clock: Clock
    db: Database
    slack: AsyncWebClient
    identity: SlackIdentity
    upstox: UpstoxClient
    responses: ResponseSession
    acks: AckFirst
    public_ip: PublicIpLookup
    scheduler: Scheduler
    home: HomePublisher
    accounts: tuple[AccountBot, ...]
    desks: Desks
    moves: HostMoves
    logins: AccountLogins

    # The first account's services: with one account (the environment form), the account's.
    @property
    def default(self) -> AccountBot:
        return self.accounts[0]

    def account(self, name: str) -> AccountBot:
        return next(a for a in self.accounts if a.name == name)

    @property
    def channel(self) -> SlackChannel:
        return self.default.channel

    @property
    def tokens(self) -> TokenService:
        return self.default.tokens

    @property
    def gateway(self) -> UpstoxGateway:
        return self.default.gateway

    @property
    def alerts(self) -> Alerts:
        return self.default.alerts

    @property
    def links(self) -> LoginLinks:
        return self.default.links

    @property
    def login_alerts(self) -> LoginAlerts:
        return self.default.login_alerts

    @property
    def show(self) -> ShowService:
        return self.default.show

    @property
    def requests(self) -> ChangeRequestService:
        return self.default.requests

    @property
    def delivery(self) -> TokenDelivery:
        return self.default.delivery

    @property
    def login(self) -> LoginService:
        return self.default.login

    @property
    def morning_token_request(self) -> MorningTokenRequest:
        return self.default.morning_token_request

    @property
    def watcher(self) -> Watcher:
        return self.default.watcher

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start-up, in order: schema, each account's part, then the periodic checks."""
        await self.db.create_schema()
        for account in self.accounts:
            await account.start()
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
        for account in self.accounts:
            await account.stop()
        await self.upstox.aclose()
        await self.responses.aclose()
        await self.public_ip.aclose()
        await self.db.close()

    def _each(
        self, job: Callable[[AccountBot], Awaitable[object]]
    ) -> Callable[[], Awaitable[None]]:
        """One job run for every account in turn: one account failing never skips the rest,
        and the first failure is then raised for the scheduler to report as usual."""

        async def run() -> None:
            failures: list[tuple[str, Exception]] = []
            for account in self.accounts:
                try:
                    await job(account)
                except Exception as error:
                    failures.append((account.name, error))
            for name, failure in failures[1:]:
                log.error("job failed for account %s too", name, exc_info=failure)
            if failures:
                raise failures[0][1]

        return run

    def _schedule_jobs(self) -> None:
        settings = self.settings
        every = settings.check_interval
        add, daily, each = self.scheduler.add, self.scheduler.add_daily, self._each
        add("expiry", every, each(lambda a: a.requests.expire_due()))
        add("reconcile", every, each(lambda a: a.requests.reconcile_unfinished()))
        add("scheduled", every, each(lambda a: a.requests.schedule.start_due()))
        token_check = each(lambda a: a.watcher.token_check())
        add("token_check", every, token_check)
        daily("token_check_0331", TOKEN_EXPIRY_CHECK_AT, token_check)
        add("ip_watch", every, each(lambda a: a.watcher.ip_watch()))
        # Who a seeded token belongs to: asked at start-up, then until Upstox has answered.
        learn = each(lambda a: a.login.learn_seeded_user())
        add("upstox_user", every, learn, first_run_after=timedelta(0))
        add("token_pickup", every, each(lambda a: a.delivery.pickup_check()))
        add("token_file_sync", every, each(lambda a: a.delivery.sync_files()))
        add("token_webhook_resume", every, each(lambda a: a.delivery.resume()))
        morning_request = each(lambda a: a.morning_token_request.run())
        add("morning_token_request", every, morning_request)
        daily("morning_token_request_daily", settings.morning_token_request_at, morning_request)
        morning = each(lambda a: a.watcher.morning_check())
        add("morning", every, morning)
        daily("morning_daily", settings.morning_reminder_at, morning)

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
            # Bolt would otherwise name the app after its caller's file, found by
            # `inspect.stack()`: a realpath() of every loaded module's file at start-up.
            name="staticip-bot",
        )
        register_command(
            app,
            self.command_router(),
            approval_channel=settings.slack_approval_channel,
            responses=self.responses,
            acks=self.acks,
        )
        request_listeners.register(app, self.desks, self.moves)
        login_listeners.register(app)
        links = {account.name: account.links for account in self.accounts}
        home_listeners.register(app, self.home, links, self.clock)
        return app

    def command_router(self) -> CommandRouter:
        """`/staticip [account] <subcommand>` → the account's feature that answers it."""
        shows = [(account.name, account.show) for account in self.accounts]
        deadline = self.settings.reply_deadline
        return CommandRouter(
            accounts=[AccountCommands(a.name, self.command_handlers(a)) for a in self.accounts],
            across={
                "show": show_listeners.summary_command(shows, deadline, self.clock),
                "status": show_listeners.status_summary_command(shows, self.clock),
                "set": request_listeners.set_across_command(self.desks, self.moves),
                "cancel": request_listeners.cancel_across_command(self.desks, self.moves),
            },
        )

    def command_handlers(self, account: AccountBot | None = None) -> dict[str, Handler]:
        """`/staticip <subcommand>` → the feature that answers it (`help` is the router's)."""
        account = account or self.default
        channel = account.channel
        return {
            "show": show_listeners.show_command(account.show, self.settings.reply_deadline),
            "status": show_listeners.status_command(account.show),
            "set": request_listeners.set_command(account.requests, channel),
            "cancel": request_listeners.cancel_command(
                account.requests, account.settings.slack_approval_channel
            ),
            "history": request_listeners.history_command(account.requests),
            "login": login_listeners.login_command(account.links, account.login, self.clock),
        }


def build(settings: Settings, *, clock: Clock = system_clock) -> Bot:
    """Every service, once, in dependency order. Nothing here does I/O: `Bot.start` does."""
    secret_key = resolve_secret_key(settings)
    redactor.add([secret_key.get_secret_value()])
    db = connect_database(
        settings.database_url, clock=clock, secret_key=secret_key.get_secret_value()
    )
    slack = make_slack_client(settings)
    upstox = UpstoxClient(
        settings.upstox_base,
        timeout=settings.upstox_timeout.total_seconds(),
        observe=metrics.upstox_call,
    )
    # This host's public IP (None when PUBLIC_IP_URL is unset): show and drift alerts.
    public_ip = PublicIpLookup(
        str(settings.public_ip_url) if settings.public_ip_url else None, clock=clock
    )
    groups = SlackUserGroups(slack, clock, settings.approver_cache_ttl)
    several = len(settings.accounts) > 1
    facts: list[HomeFacts] = []
    # One Home for every account; each account's part is added below, before any use.
    home = HomePublisher(client=slack, clock=clock, facts=facts)
    # A host move's card goes to the (global) approvals channel; its rows name accounts.
    move_cards = MoveCards(
        db=db,
        channel=SlackChannel(slack, settings.slack_approval_channel),
        names={account.key: account.name for account in settings.accounts},
        clock=clock,
        public_ip=public_ip,
        market=settings.market,
    )
    shared = _Shared(
        move_cards=move_cards,
        db=db,
        slack=slack,
        upstox=upstox,
        public_ip=public_ip,
        groups=groups,
        home=home,
        secret_key=secret_key,
        clock=clock,
        several=several,
    )
    accounts = tuple(_build_account(settings.for_account(a), a, shared) for a in settings.accounts)
    facts.extend(account.home_facts for account in accounts)
    desks = Desks(
        db,
        [AccountDesk(a.name, a.account.key, a.requests, a.channel) for a in accounts],
    )
    return Bot(
        settings=settings,
        clock=clock,
        db=db,
        slack=slack,
        identity=SlackIdentity(slack),
        upstox=upstox,
        responses=ResponseSession(),
        acks=AckFirst(),
        public_ip=public_ip,
        scheduler=Scheduler(clock),
        home=home,
        accounts=accounts,
        desks=desks,
        moves=HostMoves(db=db, desks=desks, cards=move_cards, clock=clock),
        logins=AccountLogins([a.login for a in accounts]),
    )


@dataclass(frozen=True)
class _Shared:
    move_cards: MoveCards
    db: Database
    slack: AsyncWebClient
    upstox: UpstoxClient
    public_ip: PublicIpLookup
    groups: SlackUserGroups
    home: HomePublisher
    secret_key: SecretStr
    clock: Clock
    several: bool


def _build_account(settings: Settings, account: Account, shared: _Shared) -> AccountBot:
    """One account's services, from its own settings, in dependency order."""
    db, upstox, clock, home = shared.db, shared.upstox, shared.clock, shared.home
    key = settings.account
    # With several accounts every post of this account names it (bot.slack.channel).
    channel = SlackChannel(
        shared.slack,
        settings.slack_approval_channel,
        account=account.name if shared.several else None,
    )
    tokens = TokenService(db, key, clock)
    # The trading systems' apps (UPSTOX_TRADING_APPS): a token each, never used for the IP API.
    app_tokens = {
        app.name: TokenService(db, key, clock, app=app.name)
        for app in settings.upstox_apps
        if app.name != tokens.app
    }
    week_rule = WeekRule(db, key, clock)
    gateway = UpstoxGateway(upstox, tokens, clock)
    alerts = Alerts(db, channel, key, clock)
    approvers = SlackAudience(settings.slack_approvers, shared.groups, role="approver")
    requesters = SlackAudience(settings.slack_requesters, shared.groups, role="requester")
    links = LoginLinks(
        settings=settings,
        db=db,
        upstox=upstox,
        secret_key=shared.secret_key,
        clock=clock,
        access=LoginAccess(approvers=approvers, requesters=requesters),
    )
    login_alerts = LoginAlerts(
        links=links, alerts=alerts, channel=channel, messages=SlackLoginMessages(clock)
    )
    delivery = TokenDelivery(
        account=key,
        apps=apps_from_settings(settings),
        db=db,
        tokens=tokens,
        alerts=alerts,
        channel=channel,
        secret_key=shared.secret_key,
        clock=clock,
        webhook_give_up=settings.token_webhook_give_up,
        pickup_alert_after=settings.token_pickup_alert_after,
        app_tokens=app_tokens,
    )
    home_facts = HomeFacts(
        account=key,
        name=account.name,
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
        public_ip=shared.public_ip,
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
        public_ip=shared.public_ip,
        market=settings.market,
        after_close=settings.apply_after_close_at,
        moves=shared.move_cards,
    )
    applier = ChangeApplier(
        db=db,
        tokens=tokens,
        gateway=gateway,
        login_alerts=login_alerts,
        cards=cards,
        week_rule=week_rule,
        account=key,
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
        account=key,
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
        public_ip=shared.public_ip,
        home=home,
        week_rule=week_rule,
        clock=clock,
    )
    return AccountBot(
        account=account,
        settings=settings,
        channel=channel,
        tokens=tokens,
        gateway=gateway,
        alerts=alerts,
        links=links,
        login_alerts=login_alerts,
        home_facts=home_facts,
        show=show,
        requests=requests,
        delivery=delivery,
        login=login,
        morning_token_request=morning_token_request,
        watcher=watcher,
    )
