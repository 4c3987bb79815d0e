"""The card keeps its word on time: a pending request turns "expired" at its deadline (a
timer per request, not the periodic sweep), and a click after the deadline is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from bot.ist import system_clock
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import card_updates, click, events, puts, request_change, stored
from tests.support.bot_runner import InProcessBot, settings_from_env, wait_until
from tests.support.clock import MutableClock
from tests.support.conversation import buttons
from tests.support.fake_slack import FakeSlack

S = RequestState


@pytest.fixture
def real_time_bot(env: dict[str, str]) -> Iterator[InProcessBot]:
    """APPROVAL_TTL=5s on the real clock; the sweep is an hour away, so only the timer can
    expire a request in time."""
    settings = settings_from_env({**env, "APPROVAL_TTL": "5s", "CHECK_INTERVAL": "1h"})
    running = InProcessBot(settings, clock=system_clock).start()
    yield running
    running.stop()


def _expired_update_seen(fake_slack: FakeSlack, request_id: str) -> float | None:
    for update in card_updates(fake_slack, request_id):
        if "*Expired*" in update.text_blob():
            return update.at
    return None


def test_card_shows_expired_within_seconds_of_the_deadline(
    real_time_bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = real_time_bot
    request = request_change(http, bot, fake_slack)
    left = (request.expires_at - system_clock()).total_seconds()
    assert 0 < left <= 5
    deadline_mono = time.monotonic() + left

    wait_until(lambda: _expired_update_seen(fake_slack, request.id) is not None, left + 5)
    seen_at = _expired_update_seen(fake_slack, request.id)
    assert seen_at is not None and seen_at - deadline_mono <= 5
    assert stored(bot, request.id).state is S.EXPIRED
    [update] = [u for u in card_updates(fake_slack, request.id) if "*Expired*" in u.text_blob()]
    assert buttons(update.params) == []  # the buttons are gone
    assert events(bot, request.id) == ["requested", "expired"]  # once, by the timer

    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    text = fake_slack.wait_for_response(key).params["text"]
    assert f"Request `{request.id}` expired at" in text
    assert puts(emulator) == 0


def test_a_click_after_the_deadline_is_refused_before_any_sweep_or_timer(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    request = request_change(http, bot, fake_slack)
    # The bot's clock jumps past the deadline: the timer (real time) has not woken yet and
    # no sweep has run, so only the click's own check stands between it and Upstox.
    clock.advance((request.expires_at - clock()) + timedelta(milliseconds=1))
    assert stored(bot, request.id).state is S.PENDING

    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    text = fake_slack.wait_for_response(key).params["text"]
    assert f"Request `{request.id}` expired at" in text and "without a decision" in text
    assert stored(bot, request.id).state is S.EXPIRED
    assert puts(emulator) == 0
    assert len(emulator.state.calls_to("GET /v2/user/ip")) == 1  # only the request's own read
    assert events(bot, request.id) == ["requested", "expired"]


@pytest.mark.parametrize("creator_stays", [False, True], ids=["creator-stopped", "both-running"])
def test_timers_are_rearmed_from_the_store_and_expire_exactly_once(
    env: dict[str, str],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    creator_stays: bool,
) -> None:
    settings = settings_from_env({**env, "APPROVAL_TTL": "5s", "CHECK_INTERVAL": "1h"})
    creator = InProcessBot(settings, clock=system_clock).start()
    other: InProcessBot | None = None
    try:
        request = request_change(http, creator, fake_slack)
        other = InProcessBot(settings, clock=system_clock).start()  # arms from the store
        if not creator_stays:
            creator.stop()  # its own timer dies with it
        left = (request.expires_at - system_clock()).total_seconds()
        wait_until(lambda: _expired_update_seen(fake_slack, request.id) is not None, left + 5)
        # Every timer has finished (the loser's found the request no longer pending).
        running = [other, creator] if creator_stays else [other]
        wait_until(lambda: all(not b.services.requests._expiry_timers for b in running), 5)
        assert events(other, request.id) == ["requested", "expired"]
        expired_updates = [
            u for u in card_updates(fake_slack, request.id) if "*Expired*" in u.text_blob()
        ]
        assert len(expired_updates) == 1
    finally:
        if creator_stays:
            creator.stop()
        if other is not None:
            other.stop()
