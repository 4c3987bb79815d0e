"""Who may log the bot in to Upstox.

A login decides which Upstox session every change runs on, so it is limited to the people
who take part in changes: the approvers and, when SLACK_REQUESTERS is set, the requesters.
When SLACK_REQUESTERS is empty the desk lets anyone request a change, and then anyone may
log in too — the pinned Upstox user (UPSTOX_USER_ID, or the one recorded from the first
token) still refuses a login as anybody else.
"""

from __future__ import annotations

from bot.errors import UserFacingError
from bot.slack.audience import SlackAudience


class LoginNotAllowed(UserFacingError):
    code = "login_not_allowed"


class LoginAccess:
    def __init__(self, *, approvers: SlackAudience, requesters: SlackAudience) -> None:
        self._approvers = approvers
        self._requesters = requesters

    async def check(self, user_id: str) -> None:
        """Raise `LoginNotAllowed` (or `MembershipUnknown`) unless `user_id` may log in."""
        if not self._requesters.configured:
            return
        if await self._requesters.contains(user_id) or await self._approvers.contains(user_id):
            return
        raise LoginNotAllowed(
            "Only the requesters and approvers (SLACK_REQUESTERS, SLACK_APPROVERS) may log "
            "the bot in to Upstox. Nothing was changed; ask one of them."
        )
