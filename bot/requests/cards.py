"""The approval card as the services see it: what to show, and posting/updating it.

Everything that happens to a request after its card is posted is a reply in the card's
thread (`follow_up`, and every `note`), while the card itself always shows the current
state; the channel's top level gets only new cards (and, elsewhere, alerts).

The Block Kit lives in `bot.requests.blocks`; the services only hand it a
`CardView` through a `CardRenderer`, so no Slack shape leaks into the rules. Card updates
are best effort: the database is the truth, and a failed `chat.update` must never undo
or block a decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Protocol

from bot.home.service import HomePublisher
from bot.ist import Clock
from bot.market_hours import TradingHours
from bot.public_ip import PublicIpLookup
from bot.slack.channel import Blocks, PostedMessage, SlackChannel
from bot.slack.mrkdwn import escape
from bot.store.approvals import ApprovalRepository
from bot.store.models import ChangeRequest
from bot.store.request_states import RequestState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CardView:
    request: ChangeRequest
    now: datetime
    note: str | None = None
    """A transient line under the status, e.g. "approved — applying…"."""
    approvals_required: int = 1
    approvers: tuple[str, ...] = ()
    """Who approved so far, oldest first (only when more than one approval is needed)."""
    host_check: bool = False
    """PUBLIC_IP_URL is set: the card says whether this host's IP is in the proposal."""
    host_ip: str | None = None
    """This host's public IP as PUBLIC_IP_URL answered it (None: no answer)."""
    market_open: bool = False
    """Applying now would fall inside trading hours."""
    after_close_at: datetime | None = None
    """When "Approve for after close" would apply it (only while the market is open)."""


CardRenderer = Callable[[CardView], tuple[str, Blocks]]


class MoveCard(Protocol):
    """Re-renders a host move's card (`bot.requests.moves`) from what is stored."""

    async def refresh(self, move_id: str) -> None: ...


class RequestCards:
    def __init__(
        self,
        channel: SlackChannel,
        render: CardRenderer,
        clock: Clock,
        home: HomePublisher,
        *,
        approvals_required: int = 1,
        approvals: ApprovalRepository | None = None,
        public_ip: PublicIpLookup | None = None,
        market: TradingHours | None = None,
        after_close: time = time(15, 35),
        moves: MoveCard | None = None,
    ) -> None:
        self._moves = moves
        self._channel = channel
        self._render = render
        self._clock = clock
        self._home = home
        self._required = approvals_required
        self._approvals = approvals
        self._public_ip = public_ip
        self._market = market
        self._after_close = after_close

    def render(
        self,
        request: ChangeRequest,
        note: str | None = None,
        approvers: tuple[str, ...] = (),
        host_ip: str | None = None,
    ) -> tuple[str, Blocks]:
        now = self._clock()
        # A request asked for a time (`--at`) is judged at that time, and needs no
        # "after close" alternative.
        asked = request.scheduled_at if request.state is RequestState.PENDING else None
        market_open = self._market is not None and self._market.is_open(asked or now)
        after_close_at = None
        if market_open and self._market is not None and asked is None:
            after_close_at = self._market.next_after_close(now, self._after_close)
        return self._render(
            CardView(
                request=request,
                now=now,
                market_open=market_open,
                after_close_at=after_close_at,
                note=note,
                approvals_required=self._required,
                approvers=approvers,
                host_check=self._public_ip is not None and self._public_ip.configured,
                host_ip=host_ip,
            )
        )

    async def host_ip(self, request: ChangeRequest) -> str | None:
        """This host's public IP, while the card still asks for a decision."""
        if request.state is not RequestState.PENDING or self._public_ip is None:
            return None
        try:
            return await self._public_ip.current()
        except Exception:
            log.exception("could not look up this host's public IP for the card")
            return None

    async def approvers(self, request: ChangeRequest) -> tuple[str, ...]:
        """Who approved so far (only tracked when more than one approval is needed)."""
        if self._required <= 1 or self._approvals is None:
            return ()
        try:
            return tuple(a.approver_id for a in await self._approvals.for_request(request.id))
        except Exception:
            log.exception("could not list the approvals of %s", request.id)
            return ()

    async def post(self, request: ChangeRequest) -> PostedMessage:
        text, blocks = self.render(request, host_ip=await self.host_ip(request))
        posted = await self._channel.post(text, blocks)
        self._home.refresh_soon()  # the Home lists open requests
        return posted

    async def update(self, request: ChangeRequest, note: str | None = None) -> None:
        if request.card_channel is None or request.card_ts is None:
            return
        if request.move_id is not None and self._moves is not None:
            # One account's part of a host move: its row on the move's card.
            await self._moves.refresh(request.move_id)
            if note:
                await self.follow_up(request, escape(note))
            return
        text, blocks = self.render(
            request, note, await self.approvers(request), await self.host_ip(request)
        )
        try:
            await self._channel.update(
                PostedMessage(request.card_channel, request.card_ts), text, blocks
            )
        except Exception:
            log.exception("could not update the card of %s", request.id)
        self._home.refresh_soon()  # the Home lists open requests
        if note:
            # A note is news, so the thread has it too; it may quote Upstox: escaped.
            await self.follow_up(request, escape(note))

    async def follow_up(self, request: ChangeRequest, text: str) -> None:
        """A reply in the card's thread (best effort, like every card update)."""
        if request.card_channel is None or request.card_ts is None:
            return
        try:
            await self._channel.reply(PostedMessage(request.card_channel, request.card_ts), text)
        except Exception:
            log.exception("could not reply in the thread of %s", request.id)
