"""One signed round trip with the bot, as a Slack user has it: type a command, read the
ephemeral answer at its response_url."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.slack_requests import post_signed, slash_command_body

_keys = itertools.count(1)


def new_key(prefix: str = "k") -> str:
    """A response_url key no other call in the test uses."""
    return f"{prefix}-{next(_keys)}"


def slash(
    http: httpx.Client,
    base_url: str,
    fake_slack: FakeSlack,
    text: str,
    *,
    user_id: str = "UREQUESTER",
    trigger_id: str = "trigger-1",
    key: str | None = None,
    timeout: float = 10.0,
) -> SlackCall:
    """`/staticip <text>` as Slack sends it; returns the answer posted to its response_url."""
    key = key or new_key("cmd")
    body = slash_command_body(
        text, user_id=user_id, response_url=fake_slack.response_url(key), trigger_id=trigger_id
    )
    response = post_signed(http, base_url, body)
    assert response.status_code == 200, response.text
    return fake_slack.wait_for_response(key, timeout=timeout)


def buttons(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every element of every actions block in a message's parameters."""
    found = []
    for block in params.get("blocks") or []:
        if block.get("type") == "actions":
            found.extend(block.get("elements", []))
    return found
