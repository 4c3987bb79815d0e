"""Publishing the App Home: gather the facts, render, `views.publish`; keep it fresh.

Slack fires `app_home_opened` on every open, so the one Upstox read is cached briefly and
shared by everyone; card permalinks are cached for good (they never change). Users who
opened the Home recently are remembered (bounded, in memory, per replica) so that a state
change re-publishes their view: `refresh_soon()` coalesces bursts into one background pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.home.blocks import HomeData, OpenRequest, build_home_view
from bot.ist import Clock
from bot.login.delivery import TokenDelivery
from bot.login.gateway import UpstoxGateway
from bot.login.tokens import NotLoggedIn, TokenService
from bot.show.week_rule import WeekRule
from bot.slack.alerts import Alerts
from bot.slack.channel import SlackChannel
from bot.store.database import Database
from bot.upstox import StaticIps, UpstoxError
from bot.upstox_messages import describe_upstox_error

log = logging.getLogger(__name__)

MAX_VIEWERS = 50
RECENT = timedelta(hours=12)
# Slack fires app_home_opened on every open: a read this recent is good enough for it.
IPS_MAX_AGE_S = 60.0
MAX_PERMALINKS = 500


class HomePublisher:
    """One App Home for every account: who viewed it recently, publishing, refreshing."""

    def __init__(self, *, client: AsyncWebClient, clock: Clock, facts: Sequence[HomeFacts]) -> None:
        self._client = client
        self._clock = clock
        # `build` fills this list with each account's part before anything is published.
        self._facts = facts
        self._viewers: OrderedDict[str, datetime] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._again = False

    # Viewers ---------------------------------------------------------------------------

    def seen(self, user_id: str) -> None:
        self._viewers[user_id] = self._clock()
        self._viewers.move_to_end(user_id)
        while len(self._viewers) > MAX_VIEWERS:
            self._viewers.popitem(last=False)

    def recent_viewers(self) -> list[str]:
        cutoff = self._clock() - RECENT
        return [user for user, at in self._viewers.items() if at >= cutoff]

    # Publishing ------------------------------------------------------------------------

    async def opened(self, user_id: str) -> None:
        self.seen(user_id)
        await self.publish(user_id)

    async def gather(self, *, max_age: float = IPS_MAX_AGE_S) -> list[HomeData]:
        """Every account's facts, read side by side."""
        return list(await asyncio.gather(*(f.gather(max_age=max_age) for f in self._facts)))

    async def publish(self, user_id: str, data: Sequence[HomeData] | None = None) -> None:
        data = data or await self.gather()
        await self._client.views_publish(user_id=user_id, view=build_home_view(data))

    async def refresh(self) -> None:
        """Re-publish for recent viewers now, with fresh facts. Never raises."""
        viewers = self.recent_viewers()
        if not viewers:
            return
        try:
            data = await self.gather(max_age=0.0)  # state changed: read Upstox again, once
        except Exception:
            log.exception("App Home refresh failed")
            return
        for user_id in viewers:
            try:
                await self.publish(user_id, data)
            except Exception:
                log.exception("App Home publish failed")

    def refresh_soon(self) -> None:
        """Schedule `refresh()` in the background; bursts coalesce into one more pass."""
        if not self._viewers:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._refresh_loop(), name="home-refresh")

    async def _refresh_loop(self) -> None:
        while True:
            self._again = False
            await self.refresh()
            if not self._again:
                return

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def wait_idle(self) -> None:
        """For tests and shutdown: wait for a scheduled refresh to finish."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


class HomeFacts:
    """What one account's part of the Home shows, read fresh (Upstox briefly cached)."""

    def __init__(
        self,
        *,
        account: str,
        name: str,
        db: Database,
        tokens: TokenService,
        gateway: UpstoxGateway,
        alerts: Alerts,
        channel: SlackChannel,
        week_rule: WeekRule,
        clock: Clock,
        delivery: TokenDelivery | None = None,
    ) -> None:
        self._account = account
        self.name = name
        self._delivery = delivery
        self._week_rule = week_rule
        self._db = db
        self._tokens = tokens
        self._gateway = gateway
        self._alerts = alerts
        self._channel = channel
        self._clock = clock
        self._permalinks: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def gather(self, *, max_age: float = IPS_MAX_AGE_S) -> HomeData:
        account = self._account
        token = await self._tokens.status()
        ips, as_of, problem = await self._registered_ips(token.health == "valid", max_age)
        now = self._clock()
        window = None
        if ips is not None:
            window = await self._week_rule.window(ips, now)
        open_requests = tuple(
            [
                OpenRequest(r, await self._permalink(r.card_channel, r.card_ts))
                for r in await self._db.requests.list_open(account)
            ]
        )
        audit = (await self._db.audit.page(account, page=1, page_size=10)).entries
        alerts = tuple(await self._alerts.active())
        deliveries = await self._delivery.report() if self._delivery is not None else ()
        return HomeData(
            now=now,
            account=self.name,
            token=token,
            ips=ips,
            ips_as_of=as_of,
            ips_problem=problem,
            window=window,
            open_requests=open_requests,
            audit=audit,
            alerts=alerts,
            deliveries=tuple(d.describe() for d in deliveries),
        )

    async def _registered_ips(
        self, logged_in: bool, max_age: float
    ) -> tuple[StaticIps | None, datetime | None, str | None]:
        """(IPs, as of when if they are the last known ones, the problem reading them)."""
        problem = "not logged in to Upstox"
        if logged_in:
            try:
                return await self._gateway.static_ips(max_age=max_age), None, None
            except NotLoggedIn:
                pass
            except UpstoxError as error:
                problem = describe_upstox_error(error)
        last = self._gateway.last_read
        return (None, None, problem) if last is None else (last[0], last[1], problem)

    async def _permalink(self, channel: str | None, ts: str | None) -> str | None:
        if not channel or not ts:
            return None
        key = (channel, ts)
        if key in self._permalinks:
            return self._permalinks[key]
        link = await self._channel.permalink(channel, ts)
        if link is not None:
            self._permalinks[key] = link
            while len(self._permalinks) > MAX_PERMALINKS:
                self._permalinks.popitem(last=False)
        return link
