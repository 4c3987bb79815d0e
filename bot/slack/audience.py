"""Who may approve (and, when an allow-list is set, who may request) a change.

A list mixes Slack user IDs (`U…`/`W…`) and user-group IDs (`S…`). Group members come
from a `GroupDirectory`; when a lookup fails the answer is "no" with a clear reason (fail
closed): a desk must never be logged out because Slack hiccuped during a permission check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UserFacingError
from bot.ist import Clock

log = logging.getLogger(__name__)


class GroupLookupFailed(Exception):
    """The members of a user group could not be read (the message is safe to show)."""

    def __init__(self, group_id: str, reason: str) -> None:
        super().__init__(f"{group_id}: {reason}")
        self.group_id = group_id
        self.reason = reason


class GroupDirectory(Protocol):
    async def members(self, group_id: str) -> set[str]:
        """The user IDs in the group; raise `GroupLookupFailed` when that cannot be told."""
        ...


class MembershipUnknown(UserFacingError):
    code = "membership_unknown"


class SlackAudience:
    """A configured list of users and user groups."""

    def __init__(self, ids: Iterable[str], directory: GroupDirectory, *, role: str) -> None:
        ids = list(ids)
        self.users = frozenset(i for i in ids if not i.startswith("S"))
        self.groups = tuple(i for i in ids if i.startswith("S"))
        self._directory = directory
        self._role = role

    @property
    def configured(self) -> bool:
        return bool(self.users or self.groups)

    async def contains(self, user_id: str) -> bool:
        """True if listed directly or a member of a listed group.

        Raises `MembershipUnknown` when the user is in no group that could be read and at
        least one group could not be read.
        """
        if user_id in self.users:
            return True
        failures: list[GroupLookupFailed] = []
        for group in self.groups:
            try:
                if user_id in await self._directory.members(group):
                    return True
            except GroupLookupFailed as failure:
                failures.append(failure)
        if failures:
            shown = ", ".join(f"<!subteam^{f.group_id}> ({f.reason})" for f in failures)
            raise MembershipUnknown(
                f"The bot could not check whether you are one of the {self._role}s: Slack "
                f"did not list the members of {shown}. Nothing was changed; try again in a "
                "minute, or ask an admin to check the bot's `usergroups:read` scope."
            )
        return False


class SlackUserGroups:
    """User-group members from Slack (`usergroups.users.list`), cached briefly: the method
    is Tier 2 (about 20 calls a minute), so a burst of clicks must not call it per click.
    Failures are never cached: the next click asks again."""

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
