"""The watchers against the real app: fake Slack, the Upstox emulator, a real database.

Jobs are triggered with `scheduler.run_now` (deterministic); the default CHECK_INTERVAL of
5 minutes keeps the periodic loops quiet meanwhile. Both clocks (the bot's MutableClock
and the emulator's) are moved together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from bot.ist import IST
from bot.store.models import AuditEvent
from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.jobs.helpers import posts, run_job
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack
from tests.support.public_ip_server import PublicIpServer

GET_IPS = "GET /v2/user/ip"
PUT_IPS = "PUT /v2/user/ip"
PROFILE = "GET /v2/user/profile"
DRIFT_IP = "198.51.100.20"
DRIFT_TEXT = "is not registered with Upstox"
CLEARED_TEXT = "is registered with Upstox again"
DEAD_TEXT = "Upstox is logged out"


def set_clocks(clock: MutableClock, emulator: EmulatorServer, moment: datetime) -> None:
    clock.set(moment)
    emulator.state.clock.set(moment)


def alert_audit(bot: InProcessBot, condition: str) -> list[str]:
    page = bot.run(bot.services.db.audit.page(None, page_size=100))
    return [
        str(e.details.get("state"))
        for e in page.entries
        if e.event == AuditEvent.ALERT and str(e.details.get("condition", "")) == condition
    ]


def test_drift_alert_posted_once_and_cleared_once(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    ip_server: PublicIpServer,
) -> None:
    bot = make_bot(public_ip_url=ip_server.url())
    ip_server.body = DRIFT_IP

    assert run_job(bot, "ip_watch")
    assert run_job(bot, "ip_watch")

    started = posts(fake_slack, DRIFT_TEXT, DRIFT_IP)
    assert len(started) == 1
    blob = started[0].text_blob()
    assert "UDAPI1154" in blob and f"/staticip set {DRIFT_IP}" in blob
    assert "change window is open now" in blob
    assert started[0].params["channel"] == "CAPPROVALS"
    # One Upstox read per run, nothing written.
    assert len(emulator.state.calls_to(GET_IPS)) == 2
    assert emulator.state.calls_to(PUT_IPS) == []

    ip_server.body = REGISTERED_PRIMARY
    assert run_job(bot, "ip_watch")
    assert run_job(bot, "ip_watch")

    assert len(posts(fake_slack, CLEARED_TEXT, REGISTERED_PRIMARY)) == 1
    assert len(posts(fake_slack, DRIFT_TEXT)) == 1
    assert alert_audit(bot, "drift") == ["cleared", "started"]


def test_drift_check_without_public_ip_url_makes_no_upstox_call(
    make_bot: Callable[..., InProcessBot], fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = make_bot()
    assert run_job(bot, "ip_watch")
    assert emulator.state.calls_to(GET_IPS) == []
    assert fake_slack.calls_to("chat.postMessage") == []


def test_upstox_outage_is_logged_not_raised_and_nothing_is_posted(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    ip_server: PublicIpServer,
    http: httpx.Client,
) -> None:
    from bot.upstox.emulator.state import Fault

    bot = make_bot(public_ip_url=ip_server.url())
    emulator.state.add_fault(Fault(route=GET_IPS, status=503, count=10))
    assert run_job(bot, "ip_watch") is False
    assert posts(fake_slack, DRIFT_TEXT) == []
    assert bot.services.scheduler.failures("ip_watch") == 1  # the loop will back off
    assert http.get(f"{bot.base_url}/readyz").status_code == 200


def test_token_expiry_at_0330_ist_is_detected_and_alerted_once(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    night = datetime(2026, 12, 2, 2, 0, tzinfo=IST)  # a Wednesday, 02:00 IST
    set_clocks(clock, emulator, night)
    token = emulator.state.issue_token(issued_at=night).value
    bot = make_bot(upstox_access_token=token)

    assert run_job(bot, "token_check")
    assert len(emulator.state.calls_to(PROFILE)) == 1  # still valid: one cheap call
    assert posts(fake_slack, DEAD_TEXT) == []

    set_clocks(clock, emulator, night.replace(hour=3, minute=31))
    assert run_job(bot, "token_check_0331")
    assert run_job(bot, "token_check_0331")
    assert run_job(bot, "token_check")

    assert len(posts(fake_slack, DEAD_TEXT)) == 1
    # Expiry is known from the clock: no Upstox call after 03:30.
    assert len(emulator.state.calls_to(PROFILE)) == 1
    page = bot.run(bot.services.db.audit.page(None, page_size=50))
    flips = [e for e in page.entries if e.event == AuditEvent.TOKEN_INVALIDATED]
    assert [e.details["state"] for e in flips] == ["expired"]


def test_token_rejected_by_upstox_is_found_by_one_profile_call_and_alerted_once(
    make_bot: Callable[..., InProcessBot], fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = make_bot()
    with emulator.state._lock:
        emulator.state.tokens.clear()  # Upstox forgot every token: the next call is a 401

    assert run_job(bot, "token_check")
    assert run_job(bot, "token_check")

    assert len(emulator.state.calls_to(PROFILE)) == 1
    assert len(posts(fake_slack, DEAD_TEXT)) == 1


def test_window_reopened_note_once_per_lock_period(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
    ip_server: PublicIpServer,
) -> None:
    changed = datetime(2026, 11, 30, 10, 0, tzinfo=IST)  # Monday: locked until Mon 7 Dec 00:00
    set_clocks(clock, emulator, changed + timedelta(days=1))
    token = emulator.state.issue_token().value
    emulator.state.set_ips(REGISTERED_PRIMARY, None, primary_ip_updated_at=changed)
    ip_server.body = DRIFT_IP
    bot = make_bot(public_ip_url=ip_server.url(), upstox_access_token=token)

    assert run_job(bot, "ip_watch")
    drift = posts(fake_slack, DRIFT_TEXT)
    assert len(drift) == 1
    assert "closed until Mon 07 Dec 2026, 00:00 IST" in drift[0].text_blob()
    assert posts(fake_slack, "change window has reopened") == []

    set_clocks(clock, emulator, datetime(2026, 12, 7, 0, 1, tzinfo=IST))  # a new calendar week
    bot.run(_store_fresh_token(bot, emulator))
    assert run_job(bot, "ip_watch")
    assert run_job(bot, "ip_watch")

    notes = posts(fake_slack, "change window has reopened")
    assert len(notes) == 1
    assert "Mon 07 Dec 2026, 00:00 IST" in notes[0].text_blob()
    assert DRIFT_IP in notes[0].text_blob()
    assert len(posts(fake_slack, DRIFT_TEXT)) == 1  # the drift alert itself is not repeated


async def _store_fresh_token(bot: InProcessBot, emulator: EmulatorServer) -> None:
    from pydantic import SecretStr

    from bot.store.models import TokenSource

    token = emulator.state.issue_token().value
    await bot.services.tokens.store(SecretStr(token), user_id="UTRADER", via=TokenSource.OAUTH)


def test_morning_reminder_once_per_day_when_nobody_is_logged_in(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    evening = datetime(2026, 12, 1, 18, 0, tzinfo=IST)  # Tuesday
    set_clocks(clock, emulator, evening)
    bot = make_bot(upstox_access_token=emulator.state.issue_token(issued_at=evening).value)

    set_clocks(clock, emulator, datetime(2026, 12, 2, 8, 30, tzinfo=IST))  # before 09:00
    assert run_job(bot, "morning")
    assert posts(fake_slack, "Nobody is logged in") == []

    set_clocks(clock, emulator, datetime(2026, 12, 2, 9, 1, tzinfo=IST))
    assert run_job(bot, "morning")
    assert run_job(bot, "morning_daily")
    reminders = posts(fake_slack, "Nobody is logged in")
    assert len(reminders) == 1
    assert "/staticip login" in reminders[0].text_blob()

    set_clocks(clock, emulator, datetime(2026, 12, 3, 9, 5, tzinfo=IST))  # the next day
    assert run_job(bot, "morning")
    assert len(posts(fake_slack, "Nobody is logged in")) == 2


def test_two_instances_on_one_database_post_each_alert_once(
    env: dict[str, str],
    any_database_url: str,
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
    ip_server: PublicIpServer,
) -> None:
    ip_server.body = DRIFT_IP
    bots = [
        make_bot(public_ip_url=ip_server.url(), database_url=any_database_url) for _ in range(2)
    ]

    def both(name: str) -> None:
        results: list[bool] = []
        threads = [
            threading.Thread(target=lambda b=b: results.append(run_job(b, name))) for b in bots
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert results == [True, True]

    both("ip_watch")
    both("ip_watch")
    assert len(posts(fake_slack, DRIFT_TEXT)) == 1

    ip_server.body = REGISTERED_PRIMARY
    both("ip_watch")
    both("ip_watch")
    assert len(posts(fake_slack, CLEARED_TEXT)) == 1

    clock.advance(timedelta(days=2))  # past 03:30 IST: the token has expired
    both("token_check")
    both("token_check_0331")
    assert len(posts(fake_slack, DEAD_TEXT)) == 1


def test_the_periodic_loop_really_runs(
    make_bot: Callable[..., InProcessBot], fake_slack: FakeSlack, ip_server: PublicIpServer
) -> None:
    ip_server.body = DRIFT_IP
    make_bot(public_ip_url=ip_server.url(), check_interval="1s")
    fake_slack.wait_for(lambda calls: posts(fake_slack, DRIFT_TEXT), timeout=10)


def test_expiry_sweep_expires_overdue_requests_and_updates_their_cards(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
    http: httpx.Client,
) -> None:
    from bot.store.request_states import RequestState
    from tests.support.slack_requests import post_signed, slash_command_body

    fake_slack.usergroups["SAPPROVERS"] = ["UAPPROVER3"]
    bot = make_bot()
    body = slash_command_body("set 8.8.8.8 moving to the new VPS", user_id="UREQUESTER")
    assert post_signed(http, bot.base_url, body).status_code == 200
    fake_slack.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == "CAPPROVALS")
    account = bot.services.settings.account
    request = bot.run(bot.services.db.requests.get_open(account))
    assert request is not None and request.state is RequestState.PENDING

    assert run_job(bot, "expiry")  # not due yet
    assert fake_slack.calls_to("chat.update") == []

    clock.advance(timedelta(hours=24, minutes=1))
    assert run_job(bot, "expiry")
    assert run_job(bot, "expiry")

    updates = fake_slack.calls_to("chat.update")
    assert len(updates) == 1
    assert "xpired" in updates[0].text_blob()
    after = bot.run(bot.services.db.requests.get(request.id))
    assert after is not None and after.state is RequestState.EXPIRED
    assert updates[0].params["ts"] == after.card_ts  # the card itself, updated in place
    assert emulator.state.calls_to(PUT_IPS) == []
