"""Which Slack Web API calls may be retried.

slack_sdk's built-in handlers retry any call on a 500/503 or a dropped connection. For a
call that *posts a message* that is not safe: Slack may have posted it before it failed to
answer, and a retry posts it again (two approval cards for one request). Those calls are
retried only when Slack certainly did not get them (the connection was never made) or
asked us to come back later (429, which the rate-limit handler covers).
"""

from __future__ import annotations

from aiohttp import ClientConnectorError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

# Methods whose effect is a new message: not idempotent.
POSTING_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage"})


def posts_a_message(request: HttpRequest) -> bool:
    method = request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return method in POSTING_METHODS


class ServerErrorRetryUnlessPosting(AsyncServerErrorRetryHandler):
    """A 500/503 is retried, except for a call that posts a message (its outcome is
    unknown: Slack may have posted it)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if posts_a_message(request):
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class ConnectionErrorRetryUnlessPosting(AsyncConnectionErrorRetryHandler):
    """A dropped connection is retried; for a call that posts a message only when the
    connection was never made (then Slack never saw the call)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if posts_a_message(request):
            return isinstance(error, ClientConnectorError)
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def slack_retry_handlers(max_retry_count: int = 2) -> list[AsyncRetryHandler]:
    return [
        ConnectionErrorRetryUnlessPosting(max_retry_count=max_retry_count),
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retry_count),
        ServerErrorRetryUnlessPosting(max_retry_count=max_retry_count),
    ]
