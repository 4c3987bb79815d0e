"""What happens after Approve: drift, Upstox refusals, lost answers, crashes, Upstox down."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from bot.ist import IST
from bot.store.models import TokenSource
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer, Fault
from tests.conftest import REGISTERED_AT, REGISTERED_PRIMARY
from tests.requests.helpers import (
    NEW_PRIMARY,
    NEW_SECONDARY,
    PUT,
    card_updates,
    click,
    events,
    last_card,
    puts,
    reconcile_until,
    request_change,
    stored,
    wait_state,
)
from tests.support.bot_runner import InProcessBot, settings_from_env
from tests.support.clock import MutableClock
from tests.support.conversation import buttons
from tests.support.fake_slack import FakeSlack

S = RequestState


def test_drift_since_the_request_refuses_to_apply(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack)
    # Someone changed the IPs on the Upstox website after the request was made.
    emulator.state.set_ips("1.1.1.1", None, primary_ip_updated_at=REGISTERED_AT)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    failed = wait_state(bot, request.id, S.FAILED)
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("the registered IPs changed since this request")
    assert puts(emulator) == 0
    assert events(bot, request.id) == ["requested", "approved", "failed"]
    card = last_card(fake_slack, request.id, "*Failed*")
    assert "the registered IPs changed since this request" in card and "`1.1.1.1`" in card
    assert bot.run(bot.services.tokens.status()).health == "valid"


def test_weekly_limit_from_upstox_fails_the_request_with_the_reason(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=IST)  # before the real now: token valid
    clock.set(wednesday)
    emulator.state.clock.set(wednesday)
    request = request_change(http, bot, fake_slack)
    # Same IPs (no drift), but Upstox counts a change made yesterday: it answers UDAPI1185.
    yesterday = wednesday - timedelta(days=1)
    emulator.state.set_ips(REGISTERED_PRIMARY, None, primary_ip_updated_at=yesterday)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    failed = wait_state(bot, request.id, S.FAILED)
    [put] = emulator.state.calls_to(PUT)
    assert put.status == 423
    assert "already changed this week (UDAPI1185)" in (failed.failure_reason or "")
    assert emulator.state.ips.primary_ip == REGISTERED_PRIMARY
    card = last_card(fake_slack, request.id, "*Failed*")
    assert "UDAPI1185" in card
    assert events(bot, request.id) == ["requested", "approved", "applying", "failed"]
    # A refused PUT logs nobody out.
    assert bot.run(bot.services.tokens.status()).health == "valid"


@pytest.mark.parametrize("kind", ["commit_then_drop", "commit_then_timeout"])
def test_lost_answer_of_an_applied_change_is_confirmed_after_the_next_login(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    kind: str,
) -> None:
    emulator.state.add_fault(Fault(route=PUT, kind=kind, hang_seconds=0.2))  # type: ignore[arg-type]
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    # Applied at Upstox, answer lost; the read-back gets 401 (every token died with the PUT).
    card = last_card(fake_slack, request.id, "probably applied")
    assert "after the next login" in card
    assert stored(bot, request.id).state is S.APPLYING
    assert emulator.state.ips.primary_ip == NEW_PRIMARY
    assert bot.run(bot.services.tokens.status()).health == "invalidated"

    # Someone logs in again (the login flow stores the token, then reconciles): the bot
    # reads the IPs back and confirms, without a second PUT.
    token = emulator.state.issue_token().value
    bot.run(
        bot.services.tokens.store(SecretStr(token), user_id="UAPPROVER1", via=TokenSource.OAUTH)
    )
    applied = reconcile_until(bot, request.id, S.APPLIED)
    assert applied.applied_at is not None
    assert puts(emulator) == 1
    assert events(bot, request.id) == ["requested", "approved", "applying", "reconciled"]
    card = last_card(fake_slack, request.id, "*Applied*")
    assert buttons(card_updates(fake_slack, request.id)[-1].params) == []


@pytest.mark.parametrize("kind", ["drop", "timeout"])
def test_lost_answer_of_a_change_that_did_not_happen_fails_without_a_retry(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
    kind: str,
) -> None:
    emulator.state.add_fault(Fault(route=PUT, kind=kind, hang_seconds=0.2))  # type: ignore[arg-type]
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    # Inside the settling period the old IPs prove nothing yet (a slow PUT can still land).
    last_card(fake_slack, request.id, "Upstox has not confirmed the change yet")
    assert stored(bot, request.id).state is S.APPLYING
    clock.advance(timedelta(seconds=30))
    failed = reconcile_until(bot, request.id, S.FAILED)
    assert "Upstox did not apply the change" in (failed.failure_reason or "")
    assert puts(emulator) == 1
    assert emulator.state.ips.primary_ip == REGISTERED_PRIMARY
    assert events(bot, request.id) == ["requested", "approved", "applying", "reconciled"]
    assert "*Failed*" in last_card(fake_slack, request.id, "Upstox did not apply the change")


def test_upstox_down_at_approval_keeps_it_approved_until_a_fresh_recheck(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack)
    emulator.state.add_fault(Fault(route="GET /v2/user/ip", kind="status", status=503, count=50))
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    card = last_card(fake_slack, request.id, "could not re-check")
    assert "re-checks and applies it by itself" in card
    assert stored(bot, request.id).state is S.APPROVED
    assert puts(emulator) == 0

    emulator.state.clear_faults()
    reconcile_until(bot, request.id, S.APPLIED)
    calls = [c.route for c in emulator.state.calls if c.route.endswith("/v2/user/ip")]
    assert calls[-2:] == ["GET /v2/user/ip", PUT]  # re-checked right before the one PUT
    assert puts(emulator) == 1


def test_approved_request_past_its_expiry_is_not_applied_later(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    request = request_change(http, bot, fake_slack)
    emulator.state.add_fault(Fault(route="GET /v2/user/ip", kind="status", status=503, count=50))
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    last_card(fake_slack, request.id, "could not re-check")
    emulator.state.clear_faults()
    clock.advance(timedelta(hours=25))
    failed = reconcile_until(bot, request.id, S.FAILED)
    assert failed.state is S.FAILED and "the approval lapsed" in (failed.failure_reason or "")
    assert puts(emulator) == 0


@pytest.mark.parametrize("went_through", [True, False])
def test_request_left_applying_by_a_crash_is_settled_at_start_up(
    env: dict[str, str],
    clock: MutableClock,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    went_through: bool,
) -> None:
    first = InProcessBot(settings_from_env(env), clock=clock).start()
    try:
        request = request_change(http, first, fake_slack)
        # The crash: approved and marked applying, then the process died around the PUT.
        db = first.services.db
        first.run(
            db.requests.transition(request.id, S.PENDING, S.APPROVED, decided_by="UAPPROVER1")
        )
        first.run(db.requests.transition(request.id, S.APPROVED, S.APPLYING))
    finally:
        first.stop()
    if went_through:
        emulator.state.set_ips(NEW_PRIMARY, NEW_SECONDARY, primary_ip_updated_at=REGISTERED_AT)
    clock.advance(timedelta(minutes=1))

    second = InProcessBot(settings_from_env(env), clock=clock).start()
    try:
        expected = S.APPLIED if went_through else S.FAILED
        settled = wait_state(second, request.id, expected)
        assert events(second, request.id)[-1] == "reconciled"
        assert puts(emulator) == 0
        if not went_through:
            assert "Upstox did not apply the change" in (settled.failure_reason or "")
    finally:
        second.stop()


def test_fresh_applying_row_of_another_replica_is_left_alone(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    # Its PUT may still be in flight in another replica: reading back now could call it
    # failed a moment before it succeeds.
    request = request_change(http, bot, fake_slack)
    db = bot.services.db
    bot.run(db.requests.transition(request.id, S.PENDING, S.APPROVED, decided_by="UAPPROVER1"))
    bot.run(db.requests.transition(request.id, S.APPROVED, S.APPLYING))
    reads = len(emulator.state.calls_to("GET /v2/user/ip"))
    bot.run(bot.services.requests.reconcile_unfinished())
    assert stored(bot, request.id).state is S.APPLYING
    assert len(emulator.state.calls_to("GET /v2/user/ip")) == reads
    assert puts(emulator) == 0
