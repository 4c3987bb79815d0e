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


def reject_view_submission(
    request_id: str, *, user_id: str, reason: str = "", view_id: str = "VREJECT1"
) -> str:
    """The Reject modal submitted as Slack sends it (request id in private_metadata)."""
    from tests.support.slack_requests import payload_body

    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0FAKE"},
        "api_app_id": "A0FAKE",
        "token": "deprecated-verification-token",
        "trigger_id": "trigger-reject-submit",
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": "staticip_reject",
            "private_metadata": request_id,
            "hash": "h1",
            "state": {
                "values": {
                    "reject_reason": {
                        "value": {"type": "plain_text_input", "value": reason or None}
                    }
                }
            },
        },
    }
    return payload_body(payload)


def finish_reject(
    http: httpx.Client,
    base_url: str,
    fake_slack: FakeSlack,
    *,
    key: str,
    trigger_id: str,
    request_id: str,
    user_id: str,
    reason: str = "",
) -> SlackCall | None:
    """After a Reject click: either the click was refused (an ephemeral answer at `key`,
    returned as None) or the reason modal opened for `trigger_id` — then submit it and
    return the modal's final state (the `views.update` with the outcome)."""

    def outcome(calls: list[SlackCall]) -> tuple[str, SlackCall] | None:
        for call in calls:
            if call.method == "response_url" and call.response_url_id == key:
                return ("refused", call)
            if call.method == "views.open" and call.params.get("trigger_id") == trigger_id:
                return ("modal", call)
        return None

    kind, _ = fake_slack.wait_for(outcome)
    if kind == "refused":
        return None
    view_id = f"V{key}"
    response = post_signed(
        http,
        base_url,
        reject_view_submission(request_id, user_id=user_id, reason=reason, view_id=view_id),
    )
    assert response.status_code == 200, response.text
    return fake_slack.wait_for_call(
        "views.update",
        lambda call: call.params.get("view_id") == view_id and "Rejecting…" not in call.text_blob(),
    )
