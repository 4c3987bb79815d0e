"""The scheduled morning Access Token Request, driven by the test clock and the emulator's:
one request (and one message) on a weekday at 08:30 IST, none on Saturday, once across two
replicas, and the approved token handed to the trading system."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx

from bot.ist import IST
from bot.upstox.emulator import EmulatorServer
from tests.login.conftest import MakeBot
from tests.login.helpers import TOKEN_REQUEST, channel_posts, stored_token
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack, SlackCall

# Tuesday evening: the seeded token is yesterday's by Wednesday morning.
TUESDAY_EVENING = datetime(2026, 12, 1, 20, 0, tzinfo=IST)
WEDNESDAY_0830 = datetime(2026, 12, 2, 8, 30, tzinfo=IST)
WEDNESDAY_0829 = datetime(2026, 12, 2, 8, 29, tzinfo=IST)
SATURDAY_0830 = datetime(2026, 12, 5, 8, 30, tzinfo=IST)


def set_clocks(clock: MutableClock, emulator: EmulatorServer, moment: datetime) -> None:
    clock.set(moment)
    emulator.state.clock.set(moment)


def run_job(bot: InProcessBot, name: str = "morning_token_request_daily") -> None:
    assert bot.run(bot.services.scheduler.run_now(name))


def morning_posts(fake_slack: FakeSlack) -> list[SlackCall]:
    return channel_posts(fake_slack, "Good morning. The bot asked Upstox for today's token")


def requests_started(emulator: EmulatorServer) -> int:
    return len(emulator.state.calls_to(TOKEN_REQUEST))


def test_weekday_morning_request_once_then_the_approved_token_reaches_the_trading_system(
    make_bot: MakeBot,
    tmp_path: Path,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    set_clocks(clock, emulator, TUESDAY_EVENING)
    token_file = tmp_path / "token.json"
    bot = make_bot(token_file=str(token_file))

    set_clocks(clock, emulator, WEDNESDAY_0829)
    run_job(bot)
    assert requests_started(emulator) == 0  # not yet 08:30

    set_clocks(clock, emulator, WEDNESDAY_0830)
    run_job(bot)
    run_job(bot)
    run_job(bot, "morning_token_request")  # the periodic catch-up run changes nothing

    assert requests_started(emulator) == 1
    [message] = morning_posts(fake_slack)
    assert "approve the Access Token Request on your phone" in message.text_blob()

    approved = http.post(f"{emulator.base_url}/_emulator/token-requests/approve").json()
    assert approved["delivered"] is True and approved["notifier_status"] == 200
    token = approved["payload"]["access_token"]
    assert stored_token(bot) == token
    assert json.loads(token_file.read_text())["access_token"] == token
    confirmation = channel_posts(fake_slack, "Logged in to Upstox as EMU001")
    assert "the bot's morning request" in confirmation[0].text_blob()
    assert len(morning_posts(fake_slack)) == 1
    # The morning message's thread tells the way back, ending with "trading can resume".
    [handover] = channel_posts(fake_slack, "Token hand-over for app default")
    runtime = bot.services
    [remembered] = bot.run(
        runtime.db.deliveries.history(
            runtime.settings.account, "default", sink="channel", outcome="morning"
        )
    )
    assert handover.params["thread_ts"] == remembered.detail
    assert handover.params["reply_broadcast"] is True
    text = str(handover.params["text"])
    assert text.startswith(":sunrise: The morning Access Token Request was approved.")
    assert "the bot's morning request" in text and "token file written" in text
    assert text.endswith("Trading can resume.")


def test_no_morning_request_on_saturday_or_after_an_early_login(
    make_bot: MakeBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    set_clocks(clock, emulator, TUESDAY_EVENING)
    bot = make_bot()

    set_clocks(clock, emulator, SATURDAY_0830)
    run_job(bot)
    assert requests_started(emulator) == 0
    assert morning_posts(fake_slack) == []

    # Wednesday, someone logged in at 07:00: the morning request is not needed.
    set_clocks(clock, emulator, datetime(2026, 12, 2, 7, 0, tzinfo=IST))
    link = bot.run(bot.services.links.login_link("UTRADER"))
    assert http.get(link.url, follow_redirects=True).status_code == 200
    set_clocks(clock, emulator, WEDNESDAY_0830)
    run_job(bot)
    assert requests_started(emulator) == 0
    assert morning_posts(fake_slack) == []


def test_two_replicas_start_the_morning_request_once(
    make_bot: MakeBot,
    any_database_url: str,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    set_clocks(clock, emulator, TUESDAY_EVENING)
    first = make_bot(database_url=any_database_url)
    second = make_bot(database_url=any_database_url)
    set_clocks(clock, emulator, WEDNESDAY_0830)

    run_job(first)
    run_job(second)
    run_job(second, "morning_token_request")

    assert requests_started(emulator) == 1
    assert len(morning_posts(fake_slack)) == 1


def test_a_refused_morning_request_says_what_to_do_and_is_not_repeated(
    make_bot: MakeBot, fake_slack: FakeSlack, emulator: EmulatorServer, clock: MutableClock
) -> None:
    set_clocks(clock, emulator, TUESDAY_EVENING)
    bot = make_bot()
    httpx.post(f"{emulator.base_url}/_emulator/config", json={"notifier_url": ""}, timeout=5)
    set_clocks(clock, emulator, WEDNESDAY_0830)

    run_job(bot)
    run_job(bot)

    [warning] = channel_posts(fake_slack, "could not start this morning's Upstox Access Token")
    assert "notifier URL" in warning.text_blob() and "/staticip login" in warning.text_blob()
    assert requests_started(emulator) == 1
