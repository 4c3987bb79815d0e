"""The calendar week (Monday 00:00 – Sunday 24:00 IST) as the bot's rule, and what the bot
learns when Upstox enforces something stricter (UDAPI1185 on a change the rule allowed)."""

from __future__ import annotations

import json
from datetime import datetime

import httpx

from bot.ist import IST
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.requests.helpers import (
    NEW_PRIMARY,
    PUT,
    click,
    events,
    last_card,
    puts,
    request_change,
    wait_state,
)
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack

S = RequestState
SUNDAY_LATE = datetime(2026, 11, 29, 23, 0, tzinfo=IST)
MONDAY_JUST_AFTER = datetime(2026, 11, 30, 0, 5, tzinfo=IST)


def _at(clock: MutableClock, emulator: EmulatorServer, moment: datetime) -> None:
    # Back in time from the real now, so the seeded token stays valid.
    clock.set(moment)
    emulator.state.clock.set(moment)


def _blob(call: object) -> str:
    return json.dumps(getattr(call, "params", {}))


def test_sunday_night_change_then_monday_request_is_allowed_and_applied(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    assert emulator.state.week_rule == "calendar_week"
    emulator.state.set_ips(REGISTERED_PRIMARY, None, primary_ip_updated_at=SUNDAY_LATE)
    _at(clock, emulator, MONDAY_JUST_AFTER)

    show = slash(http, bot.base_url, fake_slack, "show")
    assert "A change is allowed now" in _blob(show)
    assert "Rule: calendar week" in _blob(show)

    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_state(bot, request.id, S.APPLIED)
    [put] = emulator.state.calls_to(PUT)
    assert put.status == 200
    assert emulator.state.ips.primary_ip == NEW_PRIMARY


def test_rolling_seven_days_refusal_is_learned_and_shown(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    emulator.state.week_rule = "rolling_7_days"
    emulator.state.set_ips(REGISTERED_PRIMARY, None, primary_ip_updated_at=SUNDAY_LATE)
    _at(clock, emulator, MONDAY_JUST_AFTER)

    # The calendar week says yes; Upstox (7 rolling days here) says no.
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    failed = wait_state(bot, request.id, S.FAILED)
    assert "UDAPI1185" in (failed.failure_reason or "")
    assert "UDAPI1185" in last_card(fake_slack, request.id, "*Failed*")
    assert puts(emulator) == 1
    assert "week_rule_learned" in events(bot, request.id)

    show = _blob(slash(http, bot.base_url, fake_slack, "show"))
    assert "Rule: learned from Upstox" in show
    assert "the calendar week opens Mon 30 Nov 2026, 00:00 IST" in show
    assert "Upstox refused a change 1 hour after the last one" in show
    assert "Next change allowed from Sun 06 Dec 2026, 23:00 IST" in show

    # The lesson holds for the next request: refused before anything is sent.
    again = slash(http, bot.base_url, fake_slack, "set 1.1.1.1 try again")
    text = again.params["text"]
    assert "the next change is possible from Sun 06 Dec 2026, 23:00 IST" in text
    assert "what Upstox enforced" in text
    assert puts(emulator) == 1

    history = _blob(slash(http, bot.base_url, fake_slack, "history"))
    assert "week rule learned" in history and "UDAPI1185" in history


def test_a_refusal_the_bot_expected_teaches_nothing(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    _at(clock, emulator, datetime(2026, 11, 25, 12, 0, tzinfo=IST))  # Wednesday
    request = request_change(http, bot, fake_slack)
    # A change lands at Upstox after the request (same IPs, so no drift): the bot's own
    # rule now says "closed" too, so Upstox's refusal is no news.
    emulator.state.set_ips(
        REGISTERED_PRIMARY, None, primary_ip_updated_at=datetime(2026, 11, 24, 9, 0, tzinfo=IST)
    )
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_state(bot, request.id, S.FAILED)
    assert "week_rule_learned" not in events(bot, request.id)
    assert bot.run(bot.services.db.week_refusals.list(bot.services.settings.account)) == []
    assert bot.run(bot.services.show._week_rule.learned()) is None
