"""Helpers for the show/status tests: ask a signed question, wait for the answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

import httpx

from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.slack_requests import post_signed, slash_command_body

T = TypeVar("T")


@dataclass
class Answer:
    http: httpx.Response
    acked_at: float
    call: SlackCall

    @property
    def text(self) -> str:
        return str(self.call.params.get("text", ""))

    @property
    def blob(self) -> str:
        return self.call.text_blob()


def ask(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    text: str,
    *,
    key: str,
    timeout: float = 10.0,
) -> Answer:
    """Send `/staticip <text>` signed, wait for the answer at the response_url."""
    body = slash_command_body(text, response_url=fake_slack.response_url(key))
    response = post_signed(http, bot.base_url, body)
    acked_at = time.monotonic()
    assert response.status_code == 200, response.text
    call = fake_slack.wait_for_response(key, timeout=timeout)
    return Answer(response, acked_at, call)
