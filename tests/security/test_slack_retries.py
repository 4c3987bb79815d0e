"""A Slack 5xx on a call that posts a message is not retried: Slack may have posted it,
and the retry would post the approval card twice. Idempotent calls are still retried."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import ClientConnectorError, ServerDisconnectedError
from aiohttp.client_reqrep import ConnectionKey
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.slack.retry import ConnectionErrorRetryUnlessPosting, ServerErrorRetryUnlessPosting
from tests.support.bot_runner import InProcessBot
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import card_ids, request_change


def card_posts(fake_slack: FakeSlack) -> list[str]:
    return [
        c.text_blob()
        for c in fake_slack.calls_to("chat.postMessage")
        if "IP change request" in str(c.params.get("text", ""))
    ]


def test_a_5xx_on_the_card_post_posts_it_once(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    # Slack takes the message, then answers 500 (the fake records the call first).
    fake_slack.fail_next("chat.postMessage", status=500)
    answer = slash(http, bot.base_url, fake_slack, "set 8.8.8.8 moving")

    assert len(card_posts(fake_slack)) == 1
    assert "could not post the approval card" in answer.params["text"]
    # Nothing is left half-open: the next request gets its one card.
    request_change(http, bot.base_url, fake_slack, "8.8.8.8 moving again")
    assert len(card_posts(fake_slack)) == 2 and len(set(card_ids(fake_slack))) == 2


def test_a_5xx_on_a_card_update_is_still_retried(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    request_id = request_change(http, bot.base_url, fake_slack)
    fake_slack.fail_next("chat.update", status=503)
    slash(http, bot.base_url, fake_slack, f"cancel {request_id}")
    fake_slack.wait_for(lambda _: len(fake_slack.calls_to("chat.update")) >= 2)
    assert "cancelled" in fake_slack.calls_to("chat.update")[-1].text_blob().lower()


def request_to(method: str) -> HttpRequest:
    return HttpRequest(method="POST", url=f"http://127.0.0.1:9/api/{method}", headers={})


def can_retry(handler: object, method: str, **kwargs: object) -> bool:
    call = handler._can_retry_async(  # type: ignore[attr-defined]
        state=RetryState(), request=request_to(method), **kwargs
    )
    return bool(asyncio.run(call))


@pytest.mark.parametrize("status", [500, 503])
def test_the_server_error_handler_spares_only_posting_calls(status: int) -> None:
    handler = ServerErrorRetryUnlessPosting(max_retry_count=2)
    response = HttpResponse(status_code=status, headers={})
    assert not can_retry(handler, "chat.postMessage", response=response)
    assert not can_retry(handler, "chat.postEphemeral", response=response)
    assert can_retry(handler, "chat.update", response=response)
    assert can_retry(handler, "views.publish", response=response)


def test_a_posting_call_is_retried_only_when_the_connection_was_never_made() -> None:
    handler = ConnectionErrorRetryUnlessPosting(max_retry_count=2)
    key = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)
    never_connected = ClientConnectorError(key, OSError(111, "Connection refused"))
    assert can_retry(handler, "chat.postMessage", error=never_connected)
    assert not can_retry(handler, "chat.postMessage", error=ServerDisconnectedError())
    assert can_retry(handler, "chat.update", error=ServerDisconnectedError())
