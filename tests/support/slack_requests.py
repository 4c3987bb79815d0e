"""Requests the way Slack sends them: form-encoded bodies, signed with the signing secret."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


def slack_headers(
    raw_body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=raw_body)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slash_command_body(
    text: str,
    *,
    user_id: str = "UREQUESTER",
    response_url: str = "http://127.0.0.1:9/resp/1",
    trigger_id: str = "trigger-1",
    channel_id: str = "CSOMEWHERE",
    command: str = "/staticip",
) -> str:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0FAKE",
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": "trading",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0FAKE",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_actions_body(
    action_id: str,
    value: str,
    *,
    user_id: str = "UAPPROVER",
    response_url: str = "http://127.0.0.1:9/resp/1",
    channel_id: str = "CAPPROVALS",
    message_ts: str = "1700000000.000001",
    block_id: str = "decision",
    trigger_id: str = "trigger-2",
) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0FAKE"},
        "api_app_id": "A0FAKE",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id},
        "trigger_id": trigger_id,
        "channel": {"id": channel_id, "name": "approvals"},
        "message": {"type": "message", "ts": message_ts, "text": "card"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }
    return payload_body(payload)


def payload_body(payload: dict[str, Any]) -> str:
    return "payload=" + quote(json.dumps(payload))


def post_signed(
    client: httpx.Client,
    base_url: str,
    raw_body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    extra_headers: dict[str, str] | None = None,
) -> httpx.Response:
    headers = slack_headers(raw_body, secret=secret, timestamp=timestamp)
    headers.update(extra_headers or {})
    return client.post(f"{base_url}/slack/events", content=raw_body, headers=headers)
