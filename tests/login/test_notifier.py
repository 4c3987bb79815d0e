"""`/staticip login phone` and POST /upstox/notifier (Upstox's Access Token Request)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.log import redactor
from bot.store.models import TokenSource
from bot.upstox.emulator import EmulatorServer
from tests.login.helpers import (
    PROFILE,
    TOKEN_REQUEST,
    assert_never_leaked,
    confirmations,
    slash,
    stored_token,
)
from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack


def outstanding(bot: InProcessBot) -> int:
    services = bot.services
    return len(bot.run(services.db.token_requests.outstanding(services.settings.account)))


def notify(http: httpx.Client, bot: InProcessBot, payload: Any) -> httpx.Response:
    return http.post(f"{bot.base_url}/upstox/notifier", json=payload)


def payload_for(emulator: EmulatorServer, **changes: Any) -> dict[str, Any]:
    """A well-formed notification carrying a token the emulator really issued."""
    record = emulator.state.issue_token()
    payload: dict[str, Any] = {
        "client_id": "emulator-api-key",
        "user_id": "EMU001",
        "access_token": record.value,
        "token_type": "Bearer",
        "expires_at": "1731448800000",
        "issued_at": "1731412800000",
        "message_type": "access_token",
    }
    payload.update(changes)
    return payload


def test_phone_approval_end_to_end(
    login_bot: InProcessBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    answer = slash(http, login_bot, fake_slack, "login phone", key="phone")

    assert "Approve it on your phone" in answer.params["text"]
    assert len(emulator.state.calls_to(TOKEN_REQUEST)) == 1
    assert outstanding(login_bot) == 1

    approved = http.post(f"{emulator.base_url}/_emulator/token-requests/approve").json()

    assert approved["delivered"] is True and approved["notifier_status"] == 200
    new_token = approved["payload"]["access_token"]
    assert stored_token(login_bot) == new_token
    # The token was checked with a profile call before it was stored.
    assert [c.status for c in emulator.state.calls_to(PROFILE)] == [200]
    services = login_bot.services
    stored = login_bot.run(services.db.tokens.get(services.settings.account))
    assert stored is not None and stored.obtained_via is TokenSource.NOTIFIER
    assert outstanding(login_bot) == 0
    [confirmation] = confirmations(fake_slack)
    assert (
        "Logged in to Upstox as EMU001 (approved on the phone, requested by <@UREQUESTER>)"
        in confirmation.params["text"]
    )

    # The same notification again: nothing is outstanding any more.
    replay = notify(http, login_bot, approved["payload"])
    assert replay.status_code == 409
    assert new_token not in replay.text
    assert len(emulator.state.calls_to(PROFILE)) == 1
    assert len(confirmations(fake_slack)) == 1
    assert_never_leaked([upstox_token, new_token], logs, fake_slack)


def test_notifier_refuses_a_token_nobody_asked_for(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    before = stored_token(login_bot)
    payload = payload_for(emulator)

    answer = notify(http, login_bot, payload)

    assert answer.status_code == 409
    assert payload["access_token"] not in answer.text
    assert emulator.state.calls_to(PROFILE) == []
    assert stored_token(login_bot) == before
    assert confirmations(fake_slack) == []


def test_notifier_refuses_bad_payloads_while_a_request_is_outstanding(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    slash(http, login_bot, fake_slack, "login phone", key="phone")
    assert outstanding(login_bot) == 1
    before = stored_token(login_bot)
    bad: list[Any] = [
        payload_for(emulator, message_type="order_update"),
        payload_for(emulator, client_id="someone-elses-app"),
        {k: v for k, v in payload_for(emulator).items() if k != "access_token"},
        {k: v for k, v in payload_for(emulator).items() if k != "message_type"},
        payload_for(emulator, access_token=""),
        [payload_for(emulator)],
        "access_token",
    ]

    for payload in bad:
        answer = notify(http, login_bot, payload)
        assert answer.status_code == 400, payload
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if token:
            assert token not in answer.text
    not_json = http.post(
        f"{login_bot.base_url}/upstox/notifier",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400

    assert emulator.state.calls_to(PROFILE) == []
    assert stored_token(login_bot) == before
    assert outstanding(login_bot) == 1
    assert confirmations(fake_slack) == []


def test_notifier_verifies_the_token_with_upstox_before_storing(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    slash(http, login_bot, fake_slack, "login phone", key="phone")
    before = stored_token(login_bot)
    made_up = payload_for(emulator, access_token="a-token-upstox-never-issued-0123456789")
    other_user = payload_for(emulator, user_id="SOMEONE2")

    rejected = notify(http, login_bot, made_up)
    mismatched = notify(http, login_bot, other_user)

    assert rejected.status_code == 400
    assert "a-token-upstox-never-issued" not in rejected.text
    assert mismatched.status_code == 400
    assert [c.status for c in emulator.state.calls_to(PROFILE)] == [401, 200]
    assert stored_token(login_bot) == before
    # The genuine approval can still arrive.
    assert outstanding(login_bot) == 1
    approved = http.post(f"{emulator.base_url}/_emulator/token-requests/approve").json()
    assert approved["notifier_status"] == 200
    assert stored_token(login_bot) == approved["payload"]["access_token"]


def test_strangers_cannot_add_words_to_the_log_redactor(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    slash(http, login_bot, fake_slack, "login phone", key="phone")
    word = "notifier-poison-word"

    assert notify(http, login_bot, payload_for(emulator, access_token=word)).status_code == 400

    assert redactor.redact(f"a {word} b") == f"a {word} b"


def test_phone_login_without_a_notifier_url_says_what_to_do(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    http.post(f"{emulator.base_url}/_emulator/config", json={"notifier_url": None})

    answer = slash(http, login_bot, fake_slack, "login phone", key="phone")

    assert "no notifier URL" in answer.params["text"]
    assert "/upstox/notifier" in answer.params["text"]
    assert [c.status for c in emulator.state.calls_to(TOKEN_REQUEST)] == [400]
    assert outstanding(login_bot) == 0
