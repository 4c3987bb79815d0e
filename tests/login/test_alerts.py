"""The token-dead alert (one per outage, with a login link), the daily expiry, a rotated
BOT_SECRET_KEY, and the token at rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.service.request_states import RequestState
from bot.service.tokens import NotLoggedIn
from bot.store.models import TokenSource, TokenState
from bot.upstox import UpstoxTokenInvalid
from bot.upstox.emulator import EmulatorServer
from tests.login.conftest import MakeBot
from tests.login.helpers import (
    assert_never_leaked,
    confirmations,
    dead_alerts,
    exchanges,
    login_url,
    query,
    slash,
    stored_token,
)
from tests.requests.helpers import NEW_PRIMARY, click, request_change, wait_state
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack

OTHER_SECRET_KEY = "a-rotated-bot-secret-key-fedcba9876543210fedcba98"


def test_ip_change_posts_one_alert_a_later_401_none_and_login_clears_it(
    login_bot: InProcessBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    runtime = login_bot.runtime
    account = runtime.settings.account

    result = login_bot.run(runtime.upstox_gateway.update_static_ips("203.0.113.10", None))

    assert result.access_tokens_invalidated is True
    [alert] = dead_alerts(fake_slack)
    text = alert.text_blob()
    assert "the static IPs were changed" in text
    assert "orders from the trading system" in text
    assert "/staticip login" in text
    url = login_url(alert)
    assert query(url)["redirect_uri"] == f"{login_bot.base_url}/upstox/callback"
    assert upstox_token not in url

    # The stored token is valid again in the bot's eyes (e.g. restored by hand), but Upstox
    # killed it: the 401 flips it dead again, and the outstanding alert is not repeated.
    login_bot.run(
        runtime.db.tokens.save(
            account,
            upstox_token,
            obtained_via=TokenSource.SEED,
            expires_at=runtime.clock() + timedelta(hours=1),
        )
    )
    with pytest.raises(UpstoxTokenInvalid):
        login_bot.run(runtime.upstox_gateway.static_ips())
    assert emulator.state.calls_to("GET /v2/user/ip")[-1].status == 401
    stored = login_bot.run(runtime.db.tokens.get(account))
    assert stored is not None and stored.state is TokenState.INVALIDATED
    assert len(dead_alerts(fake_slack)) == 1

    # One tap on the alert's button: logged in, the alert cleared with one confirmation.
    page = http.get(url, follow_redirects=True)
    assert page.status_code == 200
    assert exchanges(emulator) == 1
    [confirmation] = confirmations(fake_slack)
    assert "Logged in to Upstox as EMU001" in confirmation.params["text"]
    assert "alert's login link" in confirmation.params["text"]
    assert login_bot.run(runtime.alerts.is_active("token_dead")) is False
    new_token = stored_token(login_bot)
    assert new_token is not None
    assert login_bot.run(runtime.upstox_gateway.static_ips()).primary_ip == "203.0.113.10"

    # The next outage gets its own alert.
    emulator.state.tokens[new_token].revoked_at = emulator.state.now()
    with pytest.raises(UpstoxTokenInvalid):
        login_bot.run(runtime.upstox_gateway.static_ips())
    assert len(dead_alerts(fake_slack)) == 2
    assert "Upstox rejected the token (401)" in dead_alerts(fake_slack)[-1].text_blob()
    assert_never_leaked([upstox_token, new_token], logs, fake_slack)


def test_approved_change_alerts_once_and_the_alert_button_logs_back_in(
    login_bot: InProcessBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    request = request_change(http, login_bot, fake_slack)
    click(http, login_bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_state(login_bot, request.id, RequestState.APPLIED)

    [alert] = fake_slack.wait_for(lambda calls: dead_alerts(fake_slack), timeout=5)
    assert "the static IPs were changed" in alert.text_blob()
    # Anything else that now fails with the dead token adds no second alert.
    with pytest.raises(NotLoggedIn):
        login_bot.run(login_bot.runtime.upstox_gateway.static_ips())
    shown = slash(http, login_bot, fake_slack, "show", key="show")
    assert "/staticip login" in shown.text_blob()
    assert len(dead_alerts(fake_slack)) == 1

    assert http.get(login_url(alert), follow_redirects=True).status_code == 200
    fake_slack.wait_for(lambda calls: confirmations(fake_slack), timeout=5)
    ips = login_bot.run(login_bot.runtime.upstox_gateway.static_ips())
    assert ips.primary_ip == NEW_PRIMARY
    assert len(dead_alerts(fake_slack)) == 1
    new_token = stored_token(login_bot)
    assert new_token is not None
    assert_never_leaked([upstox_token, new_token], logs, fake_slack)


def test_daily_expiry_posts_one_alert(
    login_bot: InProcessBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    runtime = login_bot.runtime
    assert login_bot.run(runtime.tokens.status()).health == "valid"
    stored = login_bot.run(runtime.db.tokens.get(runtime.settings.account))
    assert stored is not None
    clock.set(stored.expires_at + timedelta(minutes=1))

    first = login_bot.run(runtime.tokens.status())
    second = login_bot.run(runtime.tokens.status())

    assert (first.health, second.health) == ("expired", "expired")
    [alert] = dead_alerts(fake_slack)
    assert "expired (tokens end daily at 03:30 IST)" in alert.text_blob()
    login_url(alert)
    with pytest.raises(NotLoggedIn):
        login_bot.run(runtime.upstox_gateway.static_ips())
    assert emulator.state.calls_to("GET /v2/user/ip") == []
    assert len(dead_alerts(fake_slack)) == 1


def test_rotated_secret_key_means_log_in_again_not_a_crash(
    make_bot: MakeBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    first = make_bot()
    assert first.run(first.runtime.tokens.status()).health == "valid"
    first.stop()

    bot = make_bot(BOT_SECRET_KEY=OTHER_SECRET_KEY)
    runtime = bot.runtime

    status = bot.run(runtime.tokens.status())
    assert status.health == "unreadable"
    assert "BOT_SECRET_KEY" in status.describe()
    with pytest.raises(NotLoggedIn) as refused:
        bot.run(runtime.tokens.usable())
    assert "/staticip login" in refused.value.user_message
    [alert] = dead_alerts(fake_slack)
    assert "cannot be decrypted" in alert.text_blob()
    assert bot.run(runtime.db.tokens.get(runtime.settings.account)) is not None

    # Logging in again replaces the unreadable token with one under the new key.
    url = login_url(slash(http, bot, fake_slack, "login", key="login"))
    assert http.get(url, follow_redirects=True).status_code == 200
    assert bot.run(runtime.tokens.status()).health == "valid"
    assert bot.run(runtime.upstox_gateway.static_ips()).primary_ip == "122.181.101.247"
    assert len(confirmations(fake_slack)) == 1
    assert bot.run(runtime.alerts.is_active("token_dead")) is False


def test_database_file_holds_no_token_in_plain_text(
    login_bot: InProcessBot,
    fake_slack: FakeSlack,
    http: httpx.Client,
    sqlite_url: str,
    upstox_token: str,
) -> None:
    url = login_url(slash(http, login_bot, fake_slack, "login", key="login"))
    assert http.get(url, follow_redirects=True).status_code == 200
    new_token = stored_token(login_bot)
    assert new_token is not None
    link_state = query(url)["state"]

    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    raw = b"".join(
        p.read_bytes() for p in db_file.parent.iterdir() if p.name.startswith(db_file.name)
    )

    # The login really is in these bytes (user id, account), only not the tokens.
    assert b"EMU001" in raw and b"emulator-api-key" in raw
    assert new_token.encode() not in raw
    assert upstox_token.encode() not in raw
    # Nor the HMAC half of the signed state: only the random nonce is stored.
    assert link_state.rsplit(".", 1)[1].encode() not in raw
