"""`/staticip login` and GET /upstox/callback through the emulator, as a browser would."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.login.service import LINK_TTL, StateSigner
from bot.store.models import TokenSource, TokenState
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
    upstox_redirect,
    with_query,
)
from tests.support.bot_runner import BOT_SECRET_KEY, InProcessBot
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack

ACCOUNT_OF_ANOTHER_BOT = "another-api-key"


def test_login_link_to_new_token_end_to_end(
    make_bot: MakeBot,
    any_database_url: str,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    login_bot = make_bot(database_url=any_database_url)
    # The seed token dies, as after an IP change: calls fail until someone logs in.
    emulator.state.tokens[upstox_token].revoked_at = emulator.state.now()
    refused = slash(http, login_bot, fake_slack, "show", key="before")
    assert "/staticip login" in refused.text_blob()
    assert not dead_alerts(fake_slack)  # a read never posts: the watcher does
    assert login_bot.run(login_bot.services.scheduler.run_now("token_check"))
    fake_slack.wait_for(lambda calls: dead_alerts(fake_slack), timeout=5)

    answer = slash(http, login_bot, fake_slack, "login", key="login")
    assert answer.params["response_type"] == "ephemeral"
    assert "works once, for 10 minutes" in answer.text_blob()
    url = login_url(answer)
    params = query(url)
    assert url.startswith(f"{emulator.base_url}/v2/login/authorization/dialog?")
    assert params["response_type"] == "code"
    assert params["client_id"] == "emulator-api-key"
    assert params["redirect_uri"] == f"{login_bot.base_url}/upstox/callback"
    assert params["state"].count(".") == 2
    assert upstox_token not in url

    page = http.get(url, follow_redirects=True)

    assert [r.status_code for r in page.history] == [302]
    assert urlsplit(str(page.url)).path == "/upstox/callback"
    assert page.status_code == 200
    assert "Logged in to Upstox as EMU001. You can close this tab." in page.text
    assert page.headers["cache-control"] == "no-store"
    assert exchanges(emulator) == 1
    confirmation = fake_slack.wait_for_call(
        "chat.postMessage", lambda c: "Logged in to Upstox as" in c.text_blob(), timeout=5
    )
    assert "Logged in to Upstox as EMU001 by <@UREQUESTER>" in confirmation.params["text"]

    new_token = stored_token(login_bot)
    assert new_token is not None and new_token != upstox_token
    assert emulator.state.tokens[new_token].source == "oauth"
    services = login_bot.services
    stored = login_bot.run(services.db.tokens.get(services.settings.account))
    assert stored is not None
    assert (stored.state, stored.obtained_via, stored.user_id) == (
        TokenState.VALID,
        TokenSource.OAUTH,
        "EMU001",
    )
    # Upstox calls work again, with the new token.
    ips = login_bot.run(services.gateway.static_ips())
    assert ips.primary_ip == "122.181.101.247"
    assert emulator.state.calls_to("GET /v2/user/ip")[-1].status == 200
    shown = slash(http, login_bot, fake_slack, "show", key="show")
    assert "122.181.101.247" in shown.text_blob()
    assert "/staticip login" not in shown.text_blob()
    assert any("logged in to Upstox as EMU001" in r.getMessage() for r in logs.records)
    assert len(dead_alerts(fake_slack)) == 1
    assert_never_leaked([upstox_token, new_token], logs, fake_slack)


def test_second_use_of_the_callback_url_changes_nothing(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    url = login_url(slash(http, login_bot, fake_slack, "login", key="login"))
    first = http.get(url, follow_redirects=True)
    assert first.status_code == 200
    token_after_first = stored_token(login_bot)
    fake_slack.wait_for(lambda calls: confirmations(fake_slack), timeout=5)

    again = http.get(str(first.url))

    assert again.status_code == 400
    assert "already used" in again.text
    assert exchanges(emulator) == 1
    assert stored_token(login_bot) == token_after_first
    assert len(confirmations(fake_slack)) == 1


def test_forged_state_is_refused_without_exchange_and_burns_nothing(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    callback = upstox_redirect(
        http, login_url(slash(http, login_bot, fake_slack, "login", key="1"))
    )
    nonce, user, mac = query(callback)["state"].split(".")
    forgeries = [
        f"{nonce}.{user}.{mac[:-2]}AA",  # tampered signature
        f"{nonce}.UATTACKER.{mac}",  # rebound to someone else
        f"{nonce}.{user}",  # signature missing
        nonce,
        "",
    ]
    token_before = stored_token(login_bot)

    for forged in forgeries:
        answer = http.get(with_query(callback, state=forged))
        assert answer.status_code == 400, forged
        assert "Logged in" not in answer.text

    assert exchanges(emulator) == 0
    assert stored_token(login_bot) == token_before
    # The forgeries never reached the database: the genuine redirect still works once.
    assert http.get(callback).status_code == 200
    assert exchanges(emulator) == 1


def test_expired_state_is_refused_without_exchange(
    make_bot: MakeBot,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    clock: MutableClock,
) -> None:
    clock.clear_of_token_expiry(timedelta(hours=1))  # the stored token must outlive the link
    login_bot = make_bot()
    callback = upstox_redirect(
        http, login_url(slash(http, login_bot, fake_slack, "login", key="1"))
    )
    token_before = stored_token(login_bot)
    clock.advance(LINK_TTL + timedelta(seconds=1))

    answer = http.get(callback)

    assert answer.status_code == 400
    assert "expired" in answer.text
    assert exchanges(emulator) == 0
    assert stored_token(login_bot) == token_before


def test_unknown_and_cross_account_states_are_refused_without_exchange(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    services = login_bot.services
    ours = services.links.signer
    theirs = StateSigner(SecretStr(BOT_SECRET_KEY), ACCOUNT_OF_ANOTHER_BOT)
    # A state another bot (same database and key, other Upstox app) issued, signed by it...
    foreign = login_bot.run(
        services.db.oauth_states.create(ACCOUNT_OF_ANOTHER_BOT, "UREQUESTER", ttl=LINK_TTL)
    )
    # ...and one for that account with a signature that claims ours.
    foreign_row = login_bot.run(
        services.db.oauth_states.create(ACCOUNT_OF_ANOTHER_BOT, "UREQUESTER", ttl=LINK_TTL)
    )
    states = {
        "signed for another account": theirs.sign(foreign.nonce, "UREQUESTER"),
        "stored for another account": ours.sign(foreign_row.nonce, "UREQUESTER"),
        "never issued": ours.sign("never-issued-nonce-0123456789", "UREQUESTER"),
    }
    callback = upstox_redirect(
        http, login_url(slash(http, login_bot, fake_slack, "login", key="1"))
    )
    token_before = stored_token(login_bot)

    for name, state in states.items():
        answer = http.get(with_query(callback, state=state))
        assert answer.status_code == 400, name
        assert "Logged in" not in answer.text, name

    assert exchanges(emulator) == 0
    assert stored_token(login_bot) == token_before
    # The other account's own (correctly signed) state was not consumed by the attempt.
    still_there = login_bot.run(
        services.db.oauth_states.consume(foreign.nonce, now=services.clock())
    )
    assert still_there is not None


def test_upstox_error_redirect_gets_a_clear_escaped_page_and_leaves_the_link_usable(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    callback = upstox_redirect(
        http, login_url(slash(http, login_bot, fake_slack, "login", key="1"))
    )
    state = query(callback)["state"]
    denied = with_query(
        callback.split("?", 1)[0] + "?x=1",
        state=state,
        error="access_denied",
        error_description="<script>alert(1)</script>",
    )

    answer = http.get(denied)

    assert answer.status_code == 400
    assert "Upstox did not log you in (access_denied" in answer.text
    assert "<script>" not in answer.text
    assert "&lt;script&gt;" in answer.text
    assert exchanges(emulator) == 0
    # Anyone can send an `error=` callback with a state they saw: it must not kill the
    # alert's login link. The real login with the same state still succeeds, once.
    assert "Logged in" in http.get(callback).text
    assert exchanges(emulator) == 1
    assert http.get(callback).status_code == 400


def test_login_as_a_different_upstox_user_is_refused(
    make_bot: MakeBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    login_bot = make_bot(UPSTOX_USER_ID="")  # unpinned: the stored token's user decides
    services = login_bot.services
    # The bot last held a token of user OTHER01; Upstox now logs in EMU001.
    login_bot.run(
        services.tokens.store(
            SecretStr("an-older-token-of-other01"),
            user_id="OTHER01",
            via=TokenSource.OAUTH,
        )
    )
    posts_before = len(fake_slack.calls_to("chat.postMessage"))
    url = login_url(slash(http, login_bot, fake_slack, "login", key="1"))

    answer = http.get(url, follow_redirects=True)

    assert answer.status_code == 403
    assert "this bot manages OTHER01" in answer.text
    assert exchanges(emulator) == 1
    assert stored_token(login_bot) == "an-older-token-of-other01"
    assert len(fake_slack.calls_to("chat.postMessage")) == posts_before


def test_login_subcommand_rejects_unknown_options(
    login_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer, http: httpx.Client
) -> None:
    answer = slash(http, login_bot, fake_slack, "login sideways", key="1")
    assert "Unknown option `sideways`" in answer.params["text"]
    assert emulator.state.calls == []
