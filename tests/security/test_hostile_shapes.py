"""One case per crash found in review: each signed body (or notifier body) that gave a 500
and a traceback now gets a clean 400 with a message, and nothing reaches Upstox."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, unquote, urlencode

import httpx
import pytest

from bot.requests.blocks import APPROVE_ACTION
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import InProcessBot
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import PUT
from tests.support.slack_requests import block_actions_body, payload_body, post_signed

DEEP = "[" * 5000 + "]" * 5000
ACTION = json.loads(unquote(block_actions_body("x", "y").split("=", 1)[1]))


def home_opened(**event: object) -> str:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0FAKE",
            "api_app_id": "A0FAKE",
            "event": {"type": "app_home_opened", "user": "UREQUESTER", "tab": "home", **event},
        }
    )


CASES = {
    # The guard looked at the first payload; Bolt uses the last.
    "two payload fields": payload_body(ACTION)
    + "&payload="
    + quote(json.dumps({**ACTION, "actions": "not a list"})),
    "authorizations not a list": payload_body({**ACTION, "authorizations": "x"}),
    "authorizations of strings": payload_body({**ACTION, "authorizations": ["x"]}),
    "event.channel a list": home_opened(channel=["C1"]),
    "event.user an object": home_opened(user={"id": "U1"}),
    "deep payload": "payload=" + quote('{"type": "block_actions", "x": ' + DEEP + "}"),
    "deep JSON body": '{"type": "event_callback", "event": ' + DEEP + "}",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_crash_is_now_a_clean_400(
    bot: InProcessBot,
    http: httpx.Client,
    emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    caplog.set_level(logging.WARNING)
    raw = CASES[case]
    headers = {"Content-Type": "application/json"} if raw.startswith("{") else None
    response = post_signed(http, bot.base_url, raw, extra_headers=headers)

    assert response.status_code == 400, (case, response.status_code, response.text[:300])
    assert response.json()["error"].startswith("malformed request: ")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert emulator.state.calls_to(PUT) == []


def test_deeply_nested_notifier_json_is_a_clean_400(
    bot: InProcessBot, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    body = "[" * 8000 + "]" * 8000  # within the 16 KiB limit
    response = http.post(
        f"{bot.base_url}/upstox/notifier",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text[:300]
    assert response.json() == {"status": "error", "reason": "not JSON"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("page", ["²", "١٢", "８"])
def test_a_non_ascii_digit_page_number_gets_a_clear_message(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, page: str
) -> None:
    answer = slash(http, bot.base_url, fake_slack, f"history {page}")
    assert f"`{page}` is not a page number" in answer.params["text"]
    assert "went wrong" not in answer.params["text"]


@pytest.mark.parametrize(
    "response_url",
    ["\x13𫠊\x84Wí=¥©Df1", "javascript:alert(1)", "https://", "ftp://hooks.slack.com/x"],
)
def test_a_response_url_that_is_no_url_is_refused_before_anything_answers_it(
    bot: InProcessBot,
    http: httpx.Client,
    emulator: EmulatorServer,
    response_url: str,
) -> None:
    """Found by hypothesis: a garbage response_url made the answer itself fail (aiohttp's
    InvalidUrlClientError and a traceback) in a click and in a slash command."""
    click = {
        "type": "block_actions",
        "user": {"id": "UAPPROVER1"},
        "actions": [{"action_id": APPROVE_ACTION, "value": "r-nothing"}],
        "response_url": response_url,
    }
    command = {
        "command": "/staticip",
        "text": "show",
        "user_id": "U1",
        "response_url": response_url,
    }
    for raw in (payload_body(click), urlencode(command)):
        answer = post_signed(http, bot.base_url, raw)
        assert answer.status_code == 400, answer.text
        assert "response_url" in answer.text
    assert emulator.state.calls_to("PUT /v2/user/ip") == []
