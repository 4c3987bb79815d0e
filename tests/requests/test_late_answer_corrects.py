"""A definite 2xx from Upstox outranks a read-back that came too early (issue 16, item 4):
a request another replica recorded as failed while this replica's PUT was still in flight
is corrected to applied, with a `corrected` audit event, and announced once."""

from __future__ import annotations

import httpx
import pytest

from bot.store.models import AuditEvent, NewAuditEvent
from bot.store.request_states import (
    CORRECTIONS,
    IllegalTransition,
    RequestState,
    check_transition,
)
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import PUT, card_updates, click, events, request_change, wait_state
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack

S = RequestState


def test_a_late_2xx_corrects_a_failed_record(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    emulator.state.put_delay = 1.5  # within the PUT's deadline (UPSTOX_TIMEOUT 3 s)
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_until(lambda: len(emulator.state.calls_to(PUT)) == 1, timeout=5)
    # Meanwhile another replica (clock far off) read back the old IPs and gave up on it.
    failed = bot.run(
        bot.services.db.requests.transition(
            request.id,
            S.APPLYING,
            S.FAILED,
            failure_reason="Upstox did not apply the change (a too-early read-back)",
            audit=NewAuditEvent(AuditEvent.RECONCILED, "bot", {"outcome": "failed"}),
        )
    )
    assert failed is not None

    applied = wait_state(bot, request.id, S.APPLIED)

    assert applied.applied_at is not None
    assert events(bot, request.id) == [
        "requested",
        "approved",
        "applying",
        "reconciled",
        "corrected",
    ]
    assert len(emulator.state.calls_to(PUT)) == 1
    fake_slack.wait_for(
        lambda _: "*Applied*" in card_updates(fake_slack, request.id)[-1].text_blob()
    )
    announced = [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if "The static IPs are now" in c.text_blob()
    ]
    assert len(announced) == 1
    history = slash(http, bot.base_url, fake_slack, "history").text_blob()
    assert "recorded failed, but Upstox answered the change: applied" in history


def test_a_correction_is_only_failed_to_applied_and_only_when_asked_for() -> None:
    assert {(S.FAILED, S.APPLIED)} == CORRECTIONS
    check_transition(frozenset({S.FAILED}), S.APPLIED, correction=True)
    with pytest.raises(IllegalTransition):
        check_transition(frozenset({S.FAILED}), S.APPLIED)
    for terminal in (S.REJECTED, S.CANCELLED, S.EXPIRED, S.APPLIED):
        with pytest.raises(IllegalTransition):
            check_transition(frozenset({terminal}), S.APPLIED, correction=True)
