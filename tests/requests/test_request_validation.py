"""`/staticip set`: every refusal has its own message and leaves no trace — no card, no
stored request, nothing sent to Upstox."""

from __future__ import annotations

from datetime import datetime

import httpx

from bot.ist import IST
from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.requests.helpers import (
    all_requests,
    cards,
    puts,
    request_change,
)
from tests.support.bot_runner import InProcessBot, settings_from_env
from tests.support.clock import MutableClock
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack


def assert_nothing_happened(
    bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    assert cards(fake_slack) == []
    assert all_requests(bot) == []
    assert puts(emulator) == 0


INVALID = [
    ("not-an-ip moved hosts", "Primary IP `not-an-ip` is not an IP address"),
    ("010.8.8.8 moved hosts", "not in standard notation"),
    ("10.0.0.7 moved hosts", "is in a private range"),
    ("127.0.0.1 moved hosts", "is in the loopback range"),
    ("169.254.10.1 moved hosts", "is in the link-local range"),
    ("224.0.0.5 moved hosts", "is in the multicast range"),
    ("240.0.0.1 moved hosts", "is in a reserved range"),
    ("0.0.0.0 moved hosts", "unspecified"),
    ("203.0.113.7 moved hosts", "is in a documentation range"),
    ("2001:db8::7 moved hosts", "is in a documentation range"),
    ("8.8.8.8 10.1.2.3 moved hosts", "Secondary IP `10.1.2.3` is in a private range"),
    ("8.8.8.8 8.8.8.8 moved hosts", "Primary and secondary are the same IP"),
    (f"{REGISTERED_PRIMARY} moved hosts", "Those IPs are already registered"),
    ("8.8.8.8", "a reason is required"),
    ("8.8.8.8 9.9.9.9", "a reason is required"),
    ("8.8.8.8 " + "x" * 600, "keep it under 500"),
]


def test_invalid_input_is_refused_with_its_own_message(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    # One bot for all cases (starting one per case would dominate the run time).
    wrong, texts = [], {}
    for args, expected in INVALID:
        answer = slash(http, bot.base_url, fake_slack, f"set {args}")
        texts[expected] = answer.params.get("text")
        if answer.params["response_type"] != "ephemeral" or expected not in answer.params["text"]:
            wrong.append((args, expected, answer.params.get("text")))
    assert wrong == []
    assert_nothing_happened(bot, fake_slack, emulator)
    # Each kind of problem has its own message: no refusal hides behind a generic one.
    assert len(set(texts.values())) == len(texts)


def test_registered_secondary_cannot_become_the_primary_without_a_new_secondary(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    emulator.state.set_ips(
        REGISTERED_PRIMARY, "1.1.1.1", primary_ip_updated_at=datetime(2025, 10, 3, tzinfo=IST)
    )
    answer = slash(http, bot.base_url, fake_slack, "set 1.1.1.1 swap them")
    assert "already the registered secondary IP" in answer.params["text"]
    assert_nothing_happened(bot, fake_slack, emulator)


def test_closed_week_window_says_when_it_reopens(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    # Both clocks go back in time (the seeded token stays valid): Wednesday, changed Monday.
    now = datetime(2026, 11, 25, 12, 0, tzinfo=IST)
    clock.set(now)
    emulator.state.clock.set(now)
    changed = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
    emulator.state.set_ips(REGISTERED_PRIMARY, None, primary_ip_updated_at=changed)
    answer = slash(http, bot.base_url, fake_slack, "set 8.8.8.8 new host")
    text = answer.params["text"]
    assert "The weekly change window is closed" in text
    # The calendar week: the next one opens Monday 00:00 IST.
    assert "the next change is possible from Mon 30 Nov 2026, 00:00 IST" in text
    assert "the calendar week" in text
    assert_nothing_happened(bot, fake_slack, emulator)


def test_second_request_while_one_is_open_is_refused(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    first = request_change(http, bot, fake_slack)
    answer = slash(http, bot.base_url, fake_slack, "set 1.1.1.1 another one", user_id="UOTHER")
    assert "There is already an open change request" in answer.params["text"]
    assert first.id in answer.params["text"]
    assert len(cards(fake_slack)) == 1
    assert [r.id for r in all_requests(bot)] == [first.id]
    assert puts(emulator) == 0


def test_requester_allow_list(
    env: dict[str, str],
    clock: MutableClock,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    fake_slack.usergroups["SREQUESTERS"] = ["UINGROUP"]
    bot = InProcessBot(
        settings_from_env({**env, "SLACK_REQUESTERS": "UALLOWED,SREQUESTERS"}), clock=clock
    ).start()
    try:
        answer = slash(http, bot.base_url, fake_slack, "set 8.8.8.8 new host", user_id="UNOBODY")
        assert "You are not on the list of people who may request" in answer.params["text"]
        assert_nothing_happened(bot, fake_slack, emulator)
        request = request_change(http, bot, fake_slack, "8.8.8.8 new host", user_id="UINGROUP")
        assert request.requester_id == "UINGROUP"
    finally:
        bot.stop()


def test_not_logged_in_is_refused_before_anything_is_stored(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot.run(bot.services.tokens.mark_dead("test: logged out"))
    answer = slash(http, bot.base_url, fake_slack, "set 8.8.8.8 new host")
    assert "/staticip login" in answer.params["text"]
    assert "nothing was requested" in answer.params["text"]
    assert_nothing_happened(bot, fake_slack, emulator)


def test_upstox_down_is_refused_before_anything_is_stored(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    from bot.upstox.emulator import Fault

    emulator.state.add_fault(Fault(route="GET /v2/user/ip", kind="status", status=503, count=10))
    answer = slash(http, bot.base_url, fake_slack, "set 8.8.8.8 new host")
    assert "Could not read the registered IPs from Upstox" in answer.params["text"]
    assert_nothing_happened(bot, fake_slack, emulator)


def test_ipv4_mapped_ipv6_is_stored_as_ipv4(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    request = request_change(http, bot, fake_slack, "::ffff:8.8.8.8 mapped form")
    assert request.proposed_primary == "8.8.8.8"
