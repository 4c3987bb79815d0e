"""Who may approve (and, when an allow-list is set, who may request) a change.

A list mixes Slack user IDs (`U…`/`W…`) and user-group IDs (`S…`). Group members come
from a `GroupDirectory`; when a lookup fails the answer is "no" with a clear reason (fail
closed): a desk must never be logged out because Slack hiccuped during a permission check.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bot.service.errors import UserFacingError


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
