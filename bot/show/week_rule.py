"""The week rule as this bot knows it: the calendar week, plus what Upstox taught it.

`bot.week_window` is the pure rule; this adds the desk's own history — every UDAPI1185
that refused a change the rule allowed (`db.week_refusals`) — so that `show`, the Home,
the watchers and a new request all give the same estimate and say where it comes from.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.ist import Clock
from bot.store.database import Database
from bot.upstox import StaticIps
from bot.week_window import ChangeWindow, LearnedRule, change_window

log = logging.getLogger(__name__)


class WeekRule:
    def __init__(self, db: Database, account: str, clock: Clock) -> None:
        self._db = db
        self._account = account
        self._clock = clock

    async def learned(self) -> LearnedRule | None:
        """The strictest refusal recorded for the account (the longest gap refused)."""
        refusals = await self._db.week_refusals.list(self._account)
        rules = [LearnedRule(r.refused_at, r.last_change_at) for r in refusals]
        return max(rules, key=lambda rule: rule.gap, default=None)

    async def window(self, ips: StaticIps, now: datetime | None = None) -> ChangeWindow:
        return change_window(
            ips.primary_ip_updated_at,
            ips.secondary_ip_updated_at,
            now or self._clock(),
            await self.learned(),
        )

    async def refused(self, ips: StaticIps, request_id: str | None) -> LearnedRule | None:
        """Upstox answered UDAPI1185 to a PUT made against `ips` (the re-check just before
        it). Recorded when the bot's rule had allowed it: that is the lesson."""
        last = ips.last_changed_at
        now = self._clock()
        if last is None or now <= last:
            return None
        if not (await self.window(ips, now)).allowed:
            return None  # the bot expected the refusal: nothing new
        await self._db.week_refusals.record(
            self._account, refused_at=now, last_change_at=last, request_id=request_id
        )
        log.warning("Upstox refused a change the calendar-week rule allowed; recorded")
        return LearnedRule(now, last)
