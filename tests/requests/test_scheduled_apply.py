"""Market hours, "Approve for after close" and the scheduled apply: exactly once, at its
time, cancellable until then; a bot that was down at the time applies it later only when
that is safe."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest

from bot.ist import IST
from bot.requests.blocks import APPROVE_ACTION, APPROVE_AFTER_CLOSE_ACTION, MARKET_WARNING
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.jobs.helpers import run_job
from tests.requests.helpers import (
    all_requests,
    cards,
    click,
    events,
    puts,
    request_change,
    stored,
    wait_state,
)
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.clock import MutableClock
from tests.support.conversation import new_key, slash
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import block_actions_body, post_signed

S = RequestState
WEDNESDAY_11 = datetime(2026, 11, 25, 11, 0, tzinfo=IST)  # before the real now: token valid
CLOSE = datetime(2026, 11, 25, 15, 35, tzinfo=IST)


def at(clock: MutableClock, emulator: EmulatorServer, moment: datetime) -> None:
    clock.set(moment)
    emulator.state.clock.set(moment)


@pytest.fixture
def market_bot(
    make_bot: Callable[..., InProcessBot], clock: MutableClock, emulator: EmulatorServer
) -> Callable[..., InProcessBot]:
    at(clock, emulator, WEDNESDAY_11)

    def start(**overrides: str) -> InProcessBot:
        return make_bot(trading_hours="09:15-15:30", **overrides)

    return start


def approve_after_close(
    http: httpx.Client, bot: InProcessBot, fake_slack: FakeSlack, request_id: str, user_id: str
) -> str:
    key = new_key("later")
    body = block_actions_body(
        APPROVE_AFTER_CLOSE_ACTION,
        request_id,
        user_id=user_id,
        response_url=fake_slack.response_url(key),
    )
    assert post_signed(http, bot.base_url, body).status_code == 200
    return key


def action_ids(blob_params: dict) -> list[str]:  # type: ignore[type-arg]
    return [
        e["action_id"]
        for b in blob_params["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


def test_after_close_schedules_and_applies_once_after_1535(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    bot = market_bot()
    request = request_change(http, bot, fake_slack)
    [card] = cards(fake_slack)
    assert MARKET_WARNING in card.text_blob()  # the card warns, in red
    assert ":red_circle:" in card.text_blob()
    assert action_ids(card.params) == [
        "request_approve",
        "request_reject",
        "request_approve_after_close",
    ]
    approve = next(
        e
        for b in card.params["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == APPROVE_ACTION
    )
    assert MARKET_WARNING in approve["confirm"]["text"]["text"]  # the dialog repeats it

    approve_after_close(http, bot, fake_slack, request.id, "UAPPROVER1")
    scheduled = wait_state(bot, request.id, S.SCHEDULED)
    assert scheduled.scheduled_at == CLOSE
    assert puts(emulator) == 0

    at(clock, emulator, CLOSE - timedelta(minutes=1))
    assert run_job(bot, "scheduled")
    assert stored(bot, request.id).state is S.SCHEDULED and puts(emulator) == 0

    at(clock, emulator, CLOSE + timedelta(minutes=1))
    assert run_job(bot, "scheduled")
    wait_state(bot, request.id, S.APPLIED)
    assert puts(emulator) == 1
    assert run_job(bot, "scheduled")
    assert puts(emulator) == 1
    assert events(bot, request.id)[:3] == ["requested", "scheduled", "approved"]


def test_cancel_before_the_time_means_no_put(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    bot = market_bot()
    request = request_change(http, bot, fake_slack)
    approve_after_close(http, bot, fake_slack, request.id, "UAPPROVER1")
    wait_state(bot, request.id, S.SCHEDULED)
    answer = slash(http, bot.base_url, fake_slack, f"cancel {request.id}")
    assert f"Cancelled request `{request.id}`" in answer.params["text"]
    at(clock, emulator, CLOSE + timedelta(minutes=1))
    assert run_job(bot, "scheduled")
    assert stored(bot, request.id).state is S.CANCELLED
    assert puts(emulator) == 0


def test_two_replicas_apply_a_scheduled_change_once(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    first, second = market_bot(), market_bot()
    request = request_change(http, first, fake_slack)
    approve_after_close(http, first, fake_slack, request.id, "UAPPROVER1")
    wait_state(first, request.id, S.SCHEDULED)
    at(clock, emulator, CLOSE + timedelta(minutes=1))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda b: run_job(b, "scheduled"), [first, second, first, second]))
    wait_state(first, request.id, S.APPLIED)
    assert puts(emulator) == 1


def test_bot_down_across_the_time_and_back_in_trading_hours_does_not_apply_and_says_so_once(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    bot = market_bot()
    request = request_change(http, bot, fake_slack)
    approve_after_close(http, bot, fake_slack, request.id, "UAPPROVER1")
    wait_state(bot, request.id, S.SCHEDULED)
    bot.stop()

    at(clock, emulator, datetime(2026, 11, 26, 11, 0, tzinfo=IST))  # Thursday, market open
    first, second = market_bot(), market_bot()  # both arm the overdue schedule at start-up
    back = wait_state(first, request.id, S.PENDING)
    assert puts(emulator) == 0
    wait_until(lambda: not first.services.requests.schedule._timers, 5)
    wait_until(lambda: not second.services.requests.schedule._timers, 5)
    missed = [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if "did *not* apply the change" in c.text_blob()
    ]
    assert len(missed) == 1
    assert missed[0].params["thread_ts"] == request.card_ts
    assert "inside trading hours" in missed[0].text_blob()
    assert events(first, request.id).count("schedule_missed") == 1
    assert back.expires_at > datetime(2026, 11, 26, 11, 0, tzinfo=IST)


def test_bot_down_across_the_time_and_back_after_hours_applies(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    bot = market_bot()
    request = request_change(http, bot, fake_slack)
    approve_after_close(http, bot, fake_slack, request.id, "UAPPROVER1")
    wait_state(bot, request.id, S.SCHEDULED)
    bot.stop()
    at(clock, emulator, datetime(2026, 11, 25, 18, 0, tzinfo=IST))  # same evening, closed
    again = market_bot()
    wait_state(again, request.id, S.APPLIED)
    assert puts(emulator) == 1


def test_outside_trading_hours_the_card_has_no_warning_and_no_after_close_button(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    at(clock, emulator, datetime(2026, 11, 28, 11, 0, tzinfo=IST))  # Saturday
    bot = make_bot(trading_hours="09:15-15:30")
    request_change(http, bot, fake_slack)
    [card] = cards(fake_slack)
    assert MARKET_WARNING not in card.text_blob()
    assert action_ids(card.params) == ["request_approve", "request_reject"]


def test_set_at_a_time_schedules_it_for_then_on_approval(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    bot = market_bot()
    answer = slash(http, bot.base_url, fake_slack, 'set 8.8.8.8 new VPS --at "2026-11-25 16:00"')
    assert "is posted for approval" in answer.params["text"]
    [request] = [r for r in all_requests(bot) if r.state is S.PENDING]
    assert request.reason == "new VPS"
    sixteen = datetime(2026, 11, 25, 16, 0, tzinfo=IST)
    assert request.scheduled_at == sixteen
    [card] = cards(fake_slack)
    assert "Asked for Wed 25 Nov 2026, 16:00 IST" in card.text_blob()
    assert action_ids(card.params) == ["request_approve", "request_reject"]

    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")  # plain Approve
    scheduled = wait_state(bot, request.id, S.SCHEDULED)
    assert scheduled.scheduled_at == sixteen and puts(emulator) == 0
    at(clock, emulator, sixteen + timedelta(minutes=1))
    assert run_job(bot, "scheduled")
    wait_state(bot, request.id, S.APPLIED)
    assert puts(emulator) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('8.8.8.8 x --at "2026-11-25 10:00"', "is in the past"),
        ("8.8.8.8 x --at tomorrow", 'Give the time in IST as `--at "2026-12-05 16:00"`'),
        ('8.8.8.8 x --at "2026-13-01 10:00"', 'Give the time in IST as `--at "2026-12-05 16:00"`'),
    ],
)
def test_set_at_refusals_store_nothing(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    args: str,
    expected: str,
) -> None:
    bot = market_bot()
    answer = slash(http, bot.base_url, fake_slack, f"set {args}")
    assert expected in answer.params["text"]
    assert all_requests(bot) == [] and cards(fake_slack) == [] and puts(emulator) == 0


def test_a_time_in_a_closed_week_window_is_refused_when_chosen(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    bot = market_bot()
    # The IPs changed on Monday: the window is closed until next Monday 00:00, so a time
    # on Friday is refused now, not discovered at Friday 16:00.
    emulator.state.set_ips(
        REGISTERED_PRIMARY, None, primary_ip_updated_at=datetime(2026, 11, 23, 9, 0, tzinfo=IST)
    )
    answer = slash(http, bot.base_url, fake_slack, 'set 8.8.8.8 x --at "2026-11-27 16:00"')
    text = answer.params["text"]
    assert "The weekly change window is closed at Fri 27 Nov 2026, 16:00 IST" in text
    assert "Mon 30 Nov 2026, 00:00 IST" in text
    assert all_requests(bot) == [] and puts(emulator) == 0
    # A time after the window reopens is fine, though a change now would be refused.
    later = slash(http, bot.base_url, fake_slack, 'set 8.8.8.8 x --at "2026-11-30 16:00"')
    assert "is posted for approval" in later.params["text"]


def test_after_close_refusals_change_nothing(
    market_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    fake_slack.usergroups["SAPPROVERS"] = []
    bot = market_bot()
    request = request_change(http, bot, fake_slack)
    key = approve_after_close(http, bot, fake_slack, request.id, "UREQUESTER")
    assert "someone else must approve it" in fake_slack.wait_for_response(key).params["text"]
    key = approve_after_close(http, bot, fake_slack, request.id, "UNOBODY")
    text = fake_slack.wait_for_response(key).params["text"]
    assert "Only approvers can approve IP change requests" in text
    approve_after_close(http, bot, fake_slack, request.id, "UAPPROVER1")
    wait_state(bot, request.id, S.SCHEDULED)
    key = approve_after_close(http, bot, fake_slack, request.id, "UAPPROVER2")  # too late
    late = fake_slack.wait_for_response(key).params["text"]
    assert "was already approved by <@UAPPROVER1>" in late and "Wed 25 Nov 2026, 15:35" in late
    assert puts(emulator) == 0
    assert events(bot, request.id) == ["requested", "scheduled"]
