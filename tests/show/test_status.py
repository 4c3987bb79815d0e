"""`/staticip status`: token state, last Upstox call, open requests, who approves — and it
never needs Upstox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx

from bot.ist import format_ist, next_token_expiry
from bot.slack.blocks import validate_message
from bot.store.models import TokenState
from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.show.conftest import ask
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack

LOGIN = "Run `/staticip login` to log in to Upstox again."


def test_status_with_a_valid_token_shows_expiry_and_the_configured_people(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    answer = ask(bot, http, fake_slack, "status", key="status")

    validate_message(answer.call.params)
    blob = answer.blob
    expiry = next_token_expiry(clock())
    assert f"logged in, valid until {format_ist(expiry)}" in blob
    assert "03:30 IST" in format_ist(expiry)
    assert "via seed" in blob
    assert "*Last successful Upstox call:* none since the bot started" in blob
    assert "*Open change requests:* none" in blob
    assert "*Approval channel:* <#CAPPROVALS>" in blob
    assert "<@UAPPROVER1>, <@UAPPROVER2>, <!subteam^SAPPROVERS>" in blob
    assert "anyone in the workspace" in blob
    assert LOGIN not in blob
    assert emulator.state.calls == []  # status never asks Upstox


def test_status_shows_the_last_successful_upstox_call(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, clock: MutableClock
) -> None:
    ask(bot, http, fake_slack, "show", key="show")
    called_at = clock()
    clock.advance(timedelta(minutes=7))

    answer = ask(bot, http, fake_slack, "status", key="status")

    assert f"*Last successful Upstox call:* {format_ist(called_at)}" in answer.blob


def test_status_lists_the_requesters_allow_list(
    make_bot: Callable[..., InProcessBot], http: httpx.Client, fake_slack: FakeSlack
) -> None:
    running = make_bot(SLACK_REQUESTERS="UTRADER1,STRADERS")

    answer = ask(running, http, fake_slack, "status", key="req")

    assert "*Who may request a change:* <@UTRADER1>, <!subteam^STRADERS>" in answer.blob


def test_status_after_the_daily_expiry(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, clock: MutableClock
) -> None:
    expiry = next_token_expiry(clock())
    clock.set(expiry + timedelta(minutes=1))

    answer = ask(bot, http, fake_slack, "status", key="expired")

    assert f"expired at {format_ist(expiry)}" in answer.blob
    assert LOGIN in answer.blob


def test_status_after_an_ip_change_logged_everyone_out(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    reason = "the static IPs were changed, so Upstox logged out every session"
    bot.run(bot.services.tokens.mark_dead(reason, state=TokenState.INVALIDATED))

    answer = ask(bot, http, fake_slack, "status", key="invalidated")

    assert f"logged out ({reason})" in answer.blob
    assert LOGIN in answer.blob


def test_status_without_a_token(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    running = make_bot(UPSTOX_ACCESS_TOKEN="")

    answer = ask(running, http, fake_slack, "status", key="missing")

    assert "*Upstox session:* no token yet" in answer.blob
    assert LOGIN in answer.blob
    assert emulator.state.calls == []


def test_status_when_the_stored_token_cannot_be_decrypted(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = make_bot(DATABASE_URL=database_url)
    first.stop()
    running = make_bot(DATABASE_URL=database_url, BOT_SECRET_KEY="another-key-" + "x" * 40)

    answer = ask(running, http, fake_slack, "status", key="unreadable")

    assert "cannot be decrypted" in answer.blob
    assert LOGIN in answer.blob


def test_status_lists_open_requests(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, clock: MutableClock
) -> None:
    services = bot.services
    expires = clock() + timedelta(hours=24)
    created = bot.run(
        services.db.requests.create(
            account=services.settings.account,
            requester_id="UREQ1",
            reason="moving to the <new> colo & DR",
            current_primary=REGISTERED_PRIMARY,
            current_secondary=None,
            proposed_primary="203.0.113.50",
            proposed_secondary="203.0.113.51",
            expires_at=expires,
            now=clock(),
        ),
    )

    answer = ask(bot, http, fake_slack, "status", key="open")

    validate_message(answer.call.params)
    blob = answer.blob
    assert f"`{created.id}` *pending*, by <@UREQ1>" in blob
    assert "primary `203.0.113.50`, secondary `203.0.113.51`" in blob
    assert f"expires {format_ist(expires)}" in blob
    assert "moving to the &lt;new&gt; colo &amp; DR" in blob
    assert "Open change requests: 1." in answer.text


def test_status_works_while_upstox_is_down_and_show_says_so(
    make_bot: Callable[..., InProcessBot], http: httpx.Client, fake_slack: FakeSlack
) -> None:
    running = make_bot(UPSTOX_BASE_URL="http://127.0.0.1:9")  # nothing listens there

    status = ask(running, http, fake_slack, "status", key="status-down")
    show = ask(running, http, fake_slack, "show", key="show-down")

    assert "logged in, valid until" in status.blob
    assert "none since the bot started" in status.blob
    assert "Upstox is not answering right now" in show.text
