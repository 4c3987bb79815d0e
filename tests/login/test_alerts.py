"""The token-dead alert (one per outage, with a login link), the daily expiry, a rotated
BOT_SECRET_KEY, and the token at rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.login.tokens import NotLoggedIn
from bot.store.models import TokenState
from bot.store.request_states import RequestState
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


def test_a_401_is_recorded_by_the_read_alerted_once_by_the_watcher_and_cleared_by_login(
    login_bot: InProcessBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    services = login_bot.services
    account = services.settings.account
    emulator.state.tokens[upstox_token].revoked_at = emulator.state.now()

    # A read finds the token dead: it is recorded, and nothing is said in the channel.
    with pytest.raises(UpstoxTokenInvalid):
        login_bot.run(services.gateway.static_ips())
    assert emulator.state.calls_to("GET /v2/user/ip")[-1].status == 401
    stored = login_bot.run(services.db.tokens.get(account))
    assert stored is not None and stored.state is TokenState.INVALIDATED
    assert dead_alerts(fake_slack) == []

    # The watcher posts the alert, once however often it runs.
    for _ in range(3):
        assert login_bot.run(services.scheduler.run_now("token_check"))
    [alert] = dead_alerts(fake_slack)
    text = alert.text_blob()
    assert "Upstox rejected the token (401)" in text
    assert "orders from the trading system" in text
    assert "/staticip login" in text
    url = login_url(alert)
    assert query(url)["redirect_uri"] == f"{login_bot.base_url}/upstox/callback"
    assert upstox_token not in url

    # One tap on the alert's button: logged in, the alert cleared with one confirmation.
    page = http.get(url, follow_redirects=True)
    assert page.status_code == 200
    assert exchanges(emulator) == 1
    [confirmation] = confirmations(fake_slack)
    assert "Logged in to Upstox as EMU001" in confirmation.params["text"]
    assert "alert's login link" in confirmation.params["text"]
    assert login_bot.run(services.alerts.is_active("token_dead")) is False
    new_token = stored_token(login_bot)
    assert new_token is not None
    assert login_bot.run(services.gateway.static_ips()).primary_ip == "122.181.101.247"

    # The next outage gets its own alert, again from the watcher.
    emulator.state.tokens[new_token].revoked_at = emulator.state.now()
    with pytest.raises(UpstoxTokenInvalid):
        login_bot.run(services.gateway.static_ips())
    assert len(dead_alerts(fake_slack)) == 1
    assert login_bot.run(services.scheduler.run_now("token_check"))
    assert len(dead_alerts(fake_slack)) == 2
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
        login_bot.run(login_bot.services.gateway.static_ips())
    shown = slash(http, login_bot, fake_slack, "show", key="show")
    assert "/staticip login" in shown.text_blob()
    assert len(dead_alerts(fake_slack)) == 1

    assert http.get(login_url(alert), follow_redirects=True).status_code == 200
    fake_slack.wait_for(lambda calls: confirmations(fake_slack), timeout=5)
    ips = login_bot.run(login_bot.services.gateway.static_ips())
    assert ips.primary_ip == NEW_PRIMARY
    assert len(dead_alerts(fake_slack)) == 1
    new_token = stored_token(login_bot)
    assert new_token is not None
    assert_never_leaked([upstox_token, new_token], logs, fake_slack)


def test_show_and_status_with_a_just_expired_token_post_nothing_the_watcher_posts_once(
    login_bot: InProcessBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    clock: MutableClock,
) -> None:
    services = login_bot.services
    assert login_bot.run(services.tokens.status()).health == "valid"
    stored = login_bot.run(services.db.tokens.get(services.settings.account))
    assert stored is not None
    clock.set(stored.expires_at + timedelta(minutes=1))  # just past 03:30 IST
    posts_before = len(fake_slack.calls_to("chat.postMessage"))

    status = slash(http, login_bot, fake_slack, "status", key="status")
    shown = slash(http, login_bot, fake_slack, "show", key="show")

    assert "expired" in status.text_blob()
    assert "/staticip login" in shown.text_blob()
    assert emulator.state.calls_to("GET /v2/user/ip") == []
    assert len(fake_slack.calls_to("chat.postMessage")) == posts_before  # reads never post
    assert login_bot.run(services.tokens.status()).health == "expired"  # but it is recorded

    assert login_bot.run(services.scheduler.run_now("token_check"))
    assert login_bot.run(services.scheduler.run_now("token_check_0331"))
    [alert] = dead_alerts(fake_slack)
    assert "expired (tokens end daily at 03:30 IST)" in alert.text_blob()
    login_url(alert)
    with pytest.raises(NotLoggedIn):
        login_bot.run(services.gateway.static_ips())
    assert emulator.state.calls_to("GET /v2/user/ip") == []
    assert len(dead_alerts(fake_slack)) == 1


def test_rotated_secret_key_means_log_in_again_not_a_crash(
    make_bot: MakeBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    first = make_bot()
    assert first.run(first.services.tokens.status()).health == "valid"
    first.stop()

    bot = make_bot(BOT_SECRET_KEY=OTHER_SECRET_KEY)
    services = bot.services

    status = bot.run(services.tokens.status())
    assert status.health == "unreadable"
    assert "BOT_SECRET_KEY" in status.describe()
    with pytest.raises(NotLoggedIn) as refused:
        bot.run(services.tokens.usable())
    assert "/staticip login" in refused.value.user_message
    [alert] = dead_alerts(fake_slack)
    assert "cannot be decrypted" in alert.text_blob()
    assert bot.run(services.db.tokens.get(services.settings.account)) is not None

    # Logging in again replaces the unreadable token with one under the new key.
    url = login_url(slash(http, bot, fake_slack, "login", key="login"))
    assert http.get(url, follow_redirects=True).status_code == 200
    assert bot.run(services.tokens.status()).health == "valid"
    assert bot.run(services.gateway.static_ips()).primary_ip == "122.181.101.247"
    assert len(confirmations(fake_slack)) == 1
    assert bot.run(services.alerts.is_active("token_dead")) is False


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
