"""Who the bot is in Slack: one `auth.test`, made by us at start-up rather than lazily by Bolt
on the first request (where a wrong token becomes an HTTP 500 for whoever typed /staticip).

`SlackIdentity.verify` raises `SlackTokenRejected` when Slack refuses the token (the server
then exits 2) and `SlackUnreachable` when Slack cannot be asked (the server starts anyway:
a Slack outage must not stop the Upstox side, and `verify` is retried in the background).
Bolt is handed `authorize`, which answers from the remembered result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# Slack's answers meaning "this token will never work": fix the configuration.
REJECTING_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


class SlackTokenRejected(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class SlackUnreachable(Exception):
    pass


@dataclass(frozen=True)
class SlackAuth:
    """What `auth.test` says: the workspace, the bot's ids, the token's scopes."""

    team_id: str | None
    user_id: str | None
    bot_id: str | None
    scopes: frozenset[str] | None  # None: Slack did not say (no x-oauth-scopes header)


def _scopes(headers: Any) -> frozenset[str] | None:
    raw = None
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "x-oauth-scopes":
            raw = value[0] if isinstance(value, list) else value
    if raw is None:
        return None
    return frozenset(s.strip() for s in str(raw).split(",") if s.strip())


class SlackIdentity:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._auth: SlackAuth | None = None
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None

    @property
    def known(self) -> SlackAuth | None:
        return self._auth

    async def verify(self) -> SlackAuth:
        """Ask Slack once (`auth.test`) and remember the answer."""
        try:
            response = await self._client.auth_test()
        except SlackApiError as error:
            code = str(error.response.get("error", "unknown_error"))
            if code in REJECTING_ERRORS:
                raise SlackTokenRejected(code) from None
            raise SlackUnreachable(code) from None
        except (TimeoutError, SlackClientError, OSError) as error:
            raise SlackUnreachable(type(error).__name__) from None
        auth = SlackAuth(
            team_id=response.get("team_id"),
            user_id=response.get("user_id"),
            bot_id=response.get("bot_id"),
            scopes=_scopes(response.headers),
        )
        self._auth = auth
        return auth

    async def retry_until_known(self, first_delay: float = 1.0, max_delay: float = 300.0) -> None:
        """The background retry after Slack was unreachable at start-up."""
        delay = first_delay
        while self._auth is None:
            await asyncio.sleep(delay)
            try:
                await self.verify()
            except SlackTokenRejected as error:
                log.error("Slack refused SLACK_BOT_TOKEN (%s): fix it and restart", error.error)
                return
            except SlackUnreachable as error:
                log.warning("Slack still unreachable (%s); retrying in %.0f s", error, delay)
                delay = min(delay * 2, max_delay)
            else:
                log.info("Slack reachable again: token verified")

    def retry_in_background(self) -> None:
        """Start `retry_until_known` unless the identity is known (or a retry is running)."""
        if self._auth is None and self._retry is None:
            self._retry = asyncio.get_running_loop().create_task(
                self.retry_until_known(), name="slack_auth_retry"
            )

    async def aclose(self) -> None:
        retry, self._retry = self._retry, None
        if retry is not None:
            retry.cancel()
            await asyncio.gather(retry, return_exceptions=True)

    def bolt_authorize(self) -> Callable[[], Awaitable[AuthorizeResult]]:
        """For Bolt's `authorize=`: a plain function (Bolt passes arguments by the names in
        its signature, and a bound method's `self` would be one of them)."""

        async def authorize() -> AuthorizeResult:
            return await self.authorize()

        return authorize

    async def authorize(self) -> AuthorizeResult:
        """The remembered `auth.test` as Bolt wants it (asked now if still unknown)."""
        auth = self._auth
        if auth is None:
            async with self._lock:
                auth = self._auth or await self.verify()
        token = self._client.token
        return AuthorizeResult(
            enterprise_id=None,
            team_id=auth.team_id,
            bot_token=token,
            bot_id=auth.bot_id,
            bot_user_id=auth.user_id,
        )
