"""Alerts in the approvals channel: one post when a condition starts, one when it clears.

The database decides who posts (an atomic flip per condition key), so several replicas,
restarts and repeated checks never post the same alert twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.ist import Clock
from bot.slack.channel import Blocks, SlackChannel
from bot.store.database import Database
from bot.store.models import AuditEvent

log = logging.getLogger(__name__)


class Alerts:
    def __init__(self, db: Database, channel: SlackChannel, account: str, clock: Clock) -> None:
        self._db = db
        self._channel = channel
        self._account = account
        self._clock = clock

    def key(self, condition: str) -> str:
        return f"{condition}:{self._account}"

    async def start(
        self,
        condition: str,
        text: str,
        blocks: Blocks | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> bool:
        """Post `text` if this call is the one that turned the condition on."""
        key = self.key(condition)
        if not await self._db.alerts.raise_alert(key, now=self._clock(), details=details):
            return False
        try:
            await self._channel.post(text, blocks)
        except Exception:
            # Undo the flip so that the next check tries again instead of staying silent.
            await self._db.alerts.clear_alert(key, now=self._clock())
            raise
        await self._db.audit.append(
            account=self._account,
            event=AuditEvent.ALERT,
            actor="bot",
            details={"condition": condition, "state": "started", **(details or {})},
        )
        log.info("alert started: %s", condition)
        return True

    async def clear(self, condition: str, text: str | None, blocks: Blocks | None = None) -> bool:
        """Turn the condition off; post `text` (if any) only from the caller that did."""
        key = self.key(condition)
        if not await self._db.alerts.clear_alert(key, now=self._clock()):
            return False
        if text is not None:
            await self._channel.post(text, blocks)
        await self._db.audit.append(
            account=self._account,
            event=AuditEvent.ALERT,
            actor="bot",
            details={"condition": condition, "state": "cleared"},
        )
        log.info("alert cleared: %s", condition)
        return True

    async def is_active(self, condition: str) -> bool:
        alert = await self._db.alerts.get(self.key(condition))
        return alert is not None and alert.active

    async def active(self) -> list[str]:
        """The conditions active for this account right now (for the App Home)."""
        suffix = self.key("")
        return [
            alert.key.removesuffix(suffix)
            for alert in await self._db.alerts.list_active()
            if alert.key.endswith(suffix)
        ]
