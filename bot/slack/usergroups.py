"""User-group members from Slack (`usergroups.users.list`), cached briefly.

The method is Tier 2 (about 20 calls a minute), so a burst of clicks must not call it per
click. Failures are never cached: the next click asks again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.ist import Clock
from bot.service.approvers import GroupLookupFailed

log = logging.getLogger(__name__)


class SlackUserGroups:
    def __init__(self, client: AsyncWebClient, clock: Clock, ttl: timedelta) -> None:
        self._client = client
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def members(self, group_id: str) -> set[str]:
        cached = self._fresh(group_id)
        if cached is not None:
            return set(cached)
        lock = self._locks.setdefault(group_id, asyncio.Lock())
        async with lock:  # one Slack call per group however many clicks arrive at once
            cached = self._fresh(group_id)
            if cached is not None:
                return set(cached)
            users = await self._fetch(group_id)
            self._cache[group_id] = (self._clock(), users)
            return set(users)

    def _fresh(self, group_id: str) -> frozenset[str] | None:
        entry = self._cache.get(group_id)
        if entry is None or self._clock() - entry[0] >= self._ttl:
            return None
        return entry[1]

    async def _fetch(self, group_id: str) -> frozenset[str]:
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as error:
            reason = str(error.response.get("error") or "error")
            log.warning("usergroups.users.list %s failed: %s", group_id, reason)
            raise GroupLookupFailed(group_id, reason) from None
        except Exception as error:  # aiohttp/timeout errors too: fail closed, don't crash
            log.warning("usergroups.users.list %s failed: %s", group_id, type(error).__name__)
            raise GroupLookupFailed(group_id, "Slack did not answer") from None
        users = response.get("users")
        if not isinstance(users, list):
            raise GroupLookupFailed(group_id, "unexpected answer")
        return frozenset(str(u) for u in users)
