"""Only Slack gets in (signature checks), and Slack's retries have one effect."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.requests.blocks import APPROVE_ACTION
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import (
    PUT,
    card_ids,
    click,
    request_change,
)
from tests.support.slack_requests import (
    SIGNING_SECRET,
    block_actions_body,
    post_signed,
    slack_headers,
)

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


def state_of(bot: InProcessBot, request_id: str) -> RequestState:
    found = bot.run(bot.services.db.requests.get(request_id))
    assert found is not None
    return found.state


def events(bot: InProcessBot, request_id: str) -> list[str]:
    return [e.event for e in bot.run(bot.services.db.audit.list_for_request(request_id))]


@pytest.mark.parametrize(
    "forgery", ["missing", "wrong secret", "stale (301 s)", "replayed with a new timestamp"]
)
def test_unsigned_or_forged_requests_are_refused_and_change_nothing(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    forgery: str,
) -> None:
    request_id = request_change(http, bot.base_url, fake_slack)
    body = block_actions_body(
        APPROVE_ACTION, request_id, user_id="UAPPROVER1", response_url=fake_slack.response_url("x")
    )
    url = f"{bot.base_url}/slack/events"
    now = int(time.time())
    if forgery == "missing":
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    elif forgery == "wrong secret":
        headers = slack_headers(body, secret=SIGNING_SECRET + "x")
    elif forgery == "stale (301 s)":
        headers = slack_headers(body, timestamp=now - 301)
    else:
        # A captured request (signed 6 minutes ago) sent again under a fresh timestamp.
        headers = slack_headers(body, timestamp=now - 360)
        headers["X-Slack-Request-Timestamp"] = str(now)
    response = http.post(url, content=body, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid request"}
    assert state_of(bot, request_id) is RequestState.PENDING
    assert fake_slack.responses("x") == []
    assert emulator.state.calls_to(PUT) == []
    # The same click, properly signed, is accepted: the refusals were about the signature.
    assert post_signed(http, bot.base_url, body).status_code == 200
    wait_until(lambda: state_of(bot, request_id) is RequestState.APPLIED, timeout=10)


def test_a_retried_approve_click_applies_once(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request_id = request_change(http, bot.base_url, fake_slack)
    first = click(http, bot.base_url, fake_slack, request_id, user_id="UAPPROVER1", key="try")
    again = click(
        http,
        bot.base_url,
        fake_slack,
        request_id,
        user_id="UAPPROVER1",
        key="retry",
        extra_headers=RETRY,
    )
    assert (first.status, again.status) == (200, 200)
    wait_until(lambda: state_of(bot, request_id) is RequestState.APPLIED, timeout=10)
    told = fake_slack.wait_for_response("retry", timeout=5)
    assert f"`{request_id}` was already approved by <@UAPPROVER1>" in told.params["text"]
    assert fake_slack.responses("try") == []
    assert len(emulator.state.calls_to(PUT)) == 1
    assert events(bot, request_id) == ["requested", "approved", "applying", "applied"]


def test_a_retried_set_command_makes_one_request(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request_id = request_change(http, bot.base_url, fake_slack)
    # Slack re-sends the same command (it did not see our answer in time).
    answer = slash(http, bot.base_url, fake_slack, "set 8.8.8.8 9.9.9.9 moved to the new VPS")
    assert request_id in str(answer.params["text"])
    assert card_ids(fake_slack) == [request_id]
    assert emulator.state.calls_to(PUT) == []
