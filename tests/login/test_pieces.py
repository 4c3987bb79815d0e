"""The state signature, the Block Kit builders, the URL button's ack, racing callbacks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.login.blocks import (
    LOGIN_ACTION_ID,
    logged_in_text,
    login_prompt,
    token_dead_alert,
)
from bot.login.service import LoginLink, LoginResult, StateSigner
from bot.login.tokens import TokenDeath
from bot.slack.blocks import validate_message
from bot.store.models import TokenSource, TokenState
from bot.upstox.emulator import EmulatorServer
from tests.login.helpers import exchanges, login_url, slash, upstox_redirect
from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import block_actions_body, post_signed

KEY = SecretStr("unit-test-secret-key-0123456789abcdef")
NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def test_state_signature_binds_nonce_user_account_and_key() -> None:
    signer = StateSigner(KEY, "acct")
    state = signer.sign("nonce-1", "U1")

    assert signer.verify(state) == ("nonce-1", "U1", "default")
    nonce, user, mac = state.split(".")
    refused = [
        f"nonce-2.{user}.{mac}",
        f"{nonce}.U2.{mac}",
        f"{nonce}.{user}.{mac.upper()}",
        f"{nonce}.{user}.{mac}.extra",
        f"{nonce}.{user}.",
        f"{nonce}.{user}.ünïcode",
        "",
    ]
    assert [signer.verify(s) for s in refused] == [None] * len(refused)
    assert StateSigner(KEY, "other-acct").verify(state) is None
    assert StateSigner(SecretStr("another-key-0123456789"), "acct").verify(state) is None


def test_a_state_for_one_app_cannot_be_turned_into_one_for_another() -> None:
    signer = StateSigner(KEY, "acct")
    algo = signer.sign("nonce-1", "U1", "algo")
    assert signer.verify(algo) == ("nonce-1", "U1", "algo")
    nonce, user, _app, mac = algo.split(".")
    own_mac = signer.sign("nonce-1", "U1").split(".")[2]
    refused = [
        f"{nonce}.{user}.hedge.{mac}",  # another app, same signature
        f"{nonce}.{user}.{mac}",  # the app dropped: the bot's own app
        f"{nonce}.{user}.algo.{own_mac}",  # the own app's signature with an app added
    ]
    assert [signer.verify(s) for s in refused] == [None] * len(refused)


def _link(hours: float) -> LoginLink:
    return LoginLink(
        url="https://api.upstox.com/v2/login/authorization/dialog?state=a.b.c",
        expires_at=NOW + timedelta(hours=hours),
        requested_by="U1",
    )


def _valid(blocks: list[dict[str, Any]]) -> None:
    validate_message({"text": "fallback", "blocks": blocks})  # raises InvalidBlocks


@pytest.mark.parametrize(
    "death",
    [
        TokenDeath(TokenState.EXPIRED, "the daily 03:30 IST expiry"),
        TokenDeath(TokenState.INVALIDATED, "Upstox rejected the token (401)"),
    ],
)
def test_alert_is_valid_block_kit_with_one_login_button(death: TokenDeath) -> None:
    text, blocks = token_dead_alert(death, _link(12), NOW)

    _valid(blocks)
    assert text.startswith("Upstox is logged out.")
    assert "orders" in text
    urls = [
        e["url"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == LOGIN_ACTION_ID
    ]
    assert urls == [_link(12).url]
    assert "12 hours" in str(blocks)


def test_login_prompt_says_how_long_the_link_works() -> None:
    text, blocks = login_prompt(_link(1 / 6), NOW)
    _valid(blocks)
    assert "works once, for 10 minutes (until Mon 30 Nov 2026, 09:40 IST)" in text


def test_confirmation_names_who_logged_in() -> None:
    by_user = LoginResult("EMU001", "U1", TokenSource.OAUTH)
    by_phone = LoginResult("EMU001", "U1", TokenSource.NOTIFIER)
    assert "Logged in to Upstox as EMU001 by <@U1>" in logged_in_text(by_user)
    assert "approved on the phone, requested by <@U1>" in logged_in_text(by_phone)


def test_login_button_click_is_acknowledged_and_does_nothing_else(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    body = block_actions_body(LOGIN_ACTION_ID, "", block_id="upstox_login")

    answer = post_signed(http, login_bot.base_url, body)

    assert answer.status_code == 200
    # (auth.test is the start-up check of the Slack token; nothing is posted.)
    assert [c.method for c in fake_slack.calls if c.method != "auth.test"] == []
    assert emulator.state.calls == []


def test_racing_callbacks_with_one_state_exchange_the_code_once(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    callback = upstox_redirect(
        http, login_url(slash(http, login_bot, fake_slack, "login", key="1"))
    )

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(lambda _: httpx.get(callback, timeout=10).status_code, range(4)))

    assert statuses == [200, 400, 400, 400]
    assert exchanges(emulator) == 1
