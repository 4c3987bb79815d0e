"""The approval card as the services see it: what to show, and posting/updating it.

The Block Kit lives in `bot.slack.blocks.request_card`; the services only hand it a
`CardView` through a `CardRenderer`, so no Slack shape leaks into the rules. Card updates
are best effort: the database is the truth, and a failed `chat.update` must never undo
or block a decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.ist import Clock
from bot.service.notifier import Notifier, PostedMessage
from bot.store.models import ChangeRequest

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CardView:
    request: ChangeRequest
    now: datetime
    note: str | None = None
    """A transient line under the status, e.g. "approved — applying…"."""


CardRenderer = Callable[[CardView], tuple[str, Blocks]]


class RequestCards:
    def __init__(
        self,
        notifier: Notifier,
        render: CardRenderer,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._notifier = notifier
        self._render = render
        self._clock = clock
        # Every card post/update is a change other views (the App Home) should reflect.
        self._on_change = on_change

    def render(self, request: ChangeRequest, note: str | None = None) -> tuple[str, Blocks]:
        return self._render(CardView(request=request, now=self._clock(), note=note))

    async def post(self, request: ChangeRequest) -> PostedMessage:
        text, blocks = self.render(request)
        posted = await self._notifier.post(text, blocks)
        self._on_change()
        return posted

    async def update(self, request: ChangeRequest, note: str | None = None) -> None:
        if request.card_channel is None or request.card_ts is None:
            return
        text, blocks = self.render(request, note)
        try:
            await self._notifier.update(
                PostedMessage(request.card_channel, request.card_ts), text, blocks
            )
        except Exception:
            log.exception("could not update the card of %s", request.id)
        self._on_change()

    async def announce(self, text: str) -> None:
        try:
            await self._notifier.post(text)
        except Exception:
            log.exception("could not post in the approvals channel")
