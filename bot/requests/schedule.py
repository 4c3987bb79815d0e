"""Scheduled changes: a request approved "for after the close" is applied at its time,
exactly once across replicas.

scheduled ─ its time ─┬─ on time (or missed, but now outside trading hours and the week
                      │  window still open) ──► approved ─► the usual re-check and one PUT
                      └─ missed while the bot was down, and now inside trading hours or
                         the week window closed ──► pending again (one message), so that
                         an approver decides anew

Every replica keeps a timer per scheduled request (armed when scheduled, at start-up and
by each sweep); whichever gets there first wins the conditional update, the others do
nothing. "Missed" means later than the sweep could ever be: CHECK_INTERVAL plus a minute.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from bot.config import Settings
from bot.errors import UserFacingError
from bot.ist import Clock, format_ist
from bot.login.gateway import UpstoxGateway
from bot.requests.apply import ChangeApplier
from bot.requests.cards import RequestCards
from bot.show.week_rule import WeekRule
from bot.store.database import Database
from bot.store.models import AuditEvent, ChangeRequest, NewAuditEvent
from bot.store.request_states import RequestState
from bot.upstox import UpstoxError

log = logging.getLogger(__name__)

S = RequestState


class ScheduledChanges:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        gateway: UpstoxGateway,
        week_rule: WeekRule,
        cards: RequestCards,
        applier: ChangeApplier,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._account = settings.account
        self._market = settings.market
        self._db = db
        self._gateway = gateway
        self._week_rule = week_rule
        self._cards = cards
        self._applier = applier
        self._clock = clock
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._missed_after = settings.check_interval + timedelta(minutes=1)

    async def arm_all(self) -> None:
        """A timer for every scheduled request (at start-up and by each sweep); one whose
        time has passed fires at once."""
        for request in await self._db.requests.list_in_state(S.SCHEDULED, account=self._account):
            self.arm(request)

    def arm(self, request: ChangeRequest) -> None:
        if request.state is not S.SCHEDULED or request.id in self._timers:
            return
        task = asyncio.create_task(self._when_due(request))
        self._timers[request.id] = task
        task.add_done_callback(lambda _: self._timers.pop(request.id, None))

    async def _when_due(self, request: ChangeRequest) -> None:
        due = request.scheduled_at
        try:
            if due is not None:
                # A time by the bot's clock, not an event to wait for: sleep towards it.
                while (left := (due - self._clock()).total_seconds()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(min(left, 60.0))
            latest = await self._db.requests.get(request.id)
            if latest is not None and latest.state is S.SCHEDULED:
                await self.start(latest)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("starting scheduled %s failed; the next sweep tries again", request.id)

    async def start_due(self) -> None:
        """The periodic sweep: start every scheduled request whose time has come."""
        now = self._clock()
        for request in await self._db.requests.list_in_state(S.SCHEDULED, account=self._account):
            if request.scheduled_at is not None and request.scheduled_at <= now:
                await self.start(request)
            else:
                self.arm(request)

    async def start(self, request: ChangeRequest) -> ChangeRequest:
        """Its time has come: apply it, or — missed while the bot was down and no longer
        safe — hand it back to the approvers."""
        now = self._clock()
        due = request.scheduled_at or now
        if now - due > self._missed_after:
            problem = await self._unsafe_now()
            if problem is not None:
                return await self._hand_back(request, due, problem)
        won = await self._db.requests.transition(
            request.id,
            S.SCHEDULED,
            S.APPROVED,
            now=now,
            # A fresh approval lifetime: the re-check may wait for a login.
            expires_at=now + self._settings.approval_ttl,
            audit=NewAuditEvent(
                AuditEvent.APPROVED, "bot", {"scheduled_at": due.isoformat(), "started": True}
            ),
        )
        if won is None:  # another replica (or a cancel) got there first
            return await self._db.requests.get(request.id) or request
        log.info("scheduled request %s started", won.id)
        await self._cards.update(won)
        await self._cards.follow_up(
            won,
            f":alarm_clock: The scheduled time ({format_ist(due)}) has come: re-checking the "
            "registered IPs with Upstox, then applying the change (one request to Upstox).",
        )
        return await self._applier.apply(won)

    async def _unsafe_now(self) -> str | None:
        """Why applying a missed schedule now would be wrong, or None if it is safe."""
        moment = self._clock()
        if self._market.is_open(moment):
            return "it is now inside trading hours, and applying would log the trading system out"
        try:
            window = await self._week_rule.window(await self._gateway.static_ips(), moment)
        except (UpstoxError, UserFacingError) as error:  # not logged in: cannot tell
            log.warning("could not re-check the week window for a missed schedule: %r", error)
            return "the bot could not re-check the weekly change window with Upstox"
        if not window.allowed:
            return "the weekly change window is closed now"
        return None

    async def _hand_back(
        self, request: ChangeRequest, due: datetime, problem: str
    ) -> ChangeRequest:
        now = self._clock()
        back = await self._db.requests.transition(
            request.id,
            S.SCHEDULED,
            S.PENDING,
            now=now,
            expires_at=now + self._settings.approval_ttl,
            audit=NewAuditEvent(AuditEvent.SCHEDULE_MISSED, "bot", {"problem": problem}),
        )
        if back is None:
            return await self._db.requests.get(request.id) or request
        when = format_ist(request.scheduled_at) if request.scheduled_at else "its time"
        log.warning("scheduled request %s missed its time: %s", back.id, problem)
        await self._cards.update(back)
        await self._cards.follow_up(
            back,
            f":warning: The bot was not running at the scheduled time ({when}) and did *not* "
            f"apply the change: {problem}. The request waits for a decision again — approve "
            "it (now or for after the close) or cancel it.",
        )
        return back

    async def aclose(self) -> None:
        tasks = list(self._timers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
