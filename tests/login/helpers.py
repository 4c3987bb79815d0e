"""Shared steps of the login tests: Slack commands, reading the posted link, secrets checks."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.login.blocks import LOGIN_ACTION_ID
from bot.login.tokens import NotLoggedIn
from bot.upstox.emulator import EmulatorServer
from tests.support import conversation
from tests.support.bot_runner import InProcessBot
from tests.support.conversation import buttons
from tests.support.fake_slack import FakeSlack, SlackCall

TOKEN_EXCHANGE = "POST /v2/login/authorization/token"
PROFILE = "GET /v2/user/profile"
TOKEN_REQUEST = "POST /v3/login/auth/token/request"
CHANNEL = "CAPPROVALS"


def slash(
    http: httpx.Client,
    bot: InProcessBot,
    fake_slack: FakeSlack,
    text: str,
    *,
    key: str,
    user_id: str = "UREQUESTER",
) -> SlackCall:
    """Run `/staticip <text>` as Slack would and return the ephemeral answer."""
    return conversation.slash(
        http, bot.base_url, fake_slack, text, key=key, user_id=user_id, timeout=5
    )


def login_url(call: SlackCall) -> str:
    """The URL of the "Log in to Upstox" button in a posted message."""
    urls = [b["url"] for b in buttons(call.params) if b.get("action_id") == LOGIN_ACTION_ID]
    assert len(urls) == 1, call.params
    return str(urls[0])


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def channel_posts(fake_slack: FakeSlack, containing: str) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if c.params.get("channel") == CHANNEL and containing in c.text_blob()
    ]


def dead_alerts(fake_slack: FakeSlack) -> list[SlackCall]:
    return channel_posts(fake_slack, "Upstox is logged out")


def confirmations(fake_slack: FakeSlack) -> list[SlackCall]:
    return channel_posts(fake_slack, "Logged in to Upstox as")


def upstox_redirect(http: httpx.Client, url: str) -> str:
    """Open the login link without following the redirect: the bot's callback URL with a
    real, unused code (what the browser would be sent to)."""
    answer = http.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def with_query(url: str, **changes: str) -> str:
    params = query(url)
    params.update(changes)
    return str(httpx.URL(url.split("?", 1)[0], params=params))


def exchanges(emulator: EmulatorServer) -> int:
    return len(emulator.state.calls_to(TOKEN_EXCHANGE))


def stored_token(bot: InProcessBot) -> str | None:
    """The plaintext of the bot's usable token, or None when it has none."""
    try:
        return bot.run(bot.services.tokens.usable()).secret.get_secret_value()
    except NotLoggedIn:
        return None


def assert_never_leaked(
    secrets: list[str], logs: pytest.LogCaptureFixture, fake_slack: FakeSlack
) -> None:
    """No token value in any log record or anything sent to Slack."""
    lines = [r.getMessage() for r in logs.records] + [
        str(r.exc_info[1]) for r in logs.records if r.exc_info and r.exc_info[1]
    ]
    blobs = [c.text_blob() for c in fake_slack.calls]
    for secret in secrets:
        assert secret
        assert not [line for line in lines if secret in line]
        assert not [blob for blob in blobs if secret in blob]
