"""Upstox down (5xx, timeouts): clear answers after the acknowledgement, reads retried with
backoff, nothing lost, and on recovery reconciliation — never a blind PUT."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from bot.store.models import TokenSource
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer, Fault
from tests.support.bot_runner import InProcessBot, settings_from_env, wait_until
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import PUT, click, request_change
from tests.support.slack_requests import post_signed, slash_command_body

S = RequestState
GET_IPS = "GET /v2/user/ip"
READ_ATTEMPTS = 3  # the Upstox client's retry policy for reads


@pytest.fixture
def fast_bot(env: dict[str, str], clock: MutableClock) -> Iterator[InProcessBot]:
    """A bot whose Upstox calls time out after one second, so a hung Upstox is quick."""
    running = InProcessBot(settings_from_env({**env, "UPSTOX_TIMEOUT": "1s"}), clock=clock)
    running.start()
    yield running
    running.stop()


def stored(bot: InProcessBot, request_id: str) -> RequestState:
    found = bot.run(bot.services.db.requests.get(request_id))
    assert found is not None
    return found.state


def all_requests(bot: InProcessBot) -> list[object]:
    return bot.run(bot.services.db.requests.list_in_state(list(RequestState)))


@pytest.mark.parametrize("outage", ["503", "timeout"])
def test_set_while_upstox_is_down_answers_after_the_ack_and_stores_nothing(
    fast_bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    outage: str,
) -> None:
    if outage == "503":
        fault = Fault(route=GET_IPS, kind="status", status=503, count=10)
    else:
        fault = Fault(route=GET_IPS, kind="timeout", hang_seconds=30, count=10)
    emulator.state.add_fault(fault)
    body = slash_command_body(
        "set 8.8.8.8 moved to the new VPS", response_url=fake_slack.response_url("down")
    )
    response = post_signed(http, fast_bot.base_url, body)
    acked_at = time.monotonic()

    assert response.status_code == 200
    answer = fake_slack.wait_for_response("down", timeout=15)
    assert acked_at < answer.at  # the acknowledgement went first; the answer followed
    text = str(answer.params["text"])
    assert "Could not read the registered IPs from Upstox, so nothing was requested" in text
    assert answer.params["response_type"] == "ephemeral"
    assert len(emulator.state.calls_to(GET_IPS)) == READ_ATTEMPTS  # retried, then gave up
    assert all_requests(fast_bot) == []
    assert emulator.state.calls_to(PUT) == []
    assert fake_slack.calls_to("chat.postMessage") == []


def test_approval_during_an_outage_is_applied_by_the_sweep_after_a_fresh_recheck(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request_id = request_change(http, bot.base_url, fake_slack)
    emulator.state.add_fault(Fault(route=GET_IPS, kind="status", status=503, count=100))
    click(http, bot.base_url, fake_slack, request_id, user_id="UAPPROVER1")
    wait_until(lambda: len(emulator.state.calls_to(GET_IPS)) >= 1 + READ_ATTEMPTS, timeout=10)
    wait_until(lambda: _card_says(fake_slack, request_id, "could not re-check"), timeout=10)
    # Still down: the periodic sweep tries again and changes nothing.
    assert _run_job(bot, "reconcile")
    assert stored(bot, request_id) is S.APPROVED
    assert emulator.state.calls_to(PUT) == []

    emulator.state.clear_faults()  # Upstox is back
    assert _run_job(bot, "reconcile")
    assert stored(bot, request_id) is S.APPLIED
    routes = [c.route for c in emulator.state.calls if c.route in (GET_IPS, PUT)]
    assert routes[-2:] == [GET_IPS, PUT]  # re-checked right before the only PUT
    assert len(emulator.state.calls_to(PUT)) == 1


def test_unknown_put_outcome_during_an_outage_is_read_back_never_resent(
    fast_bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = fast_bot
    request_id = request_change(http, bot.base_url, fake_slack)
    # The PUT is applied but its answer never comes, and meanwhile Upstox goes down.
    emulator.state.add_fault(Fault(route=PUT, kind="commit_then_timeout", hang_seconds=30))
    click(http, bot.base_url, fake_slack, request_id, user_id="UAPPROVER1")
    wait_until(lambda: len(emulator.state.calls_to(PUT)) == 1, timeout=10)
    emulator.state.add_fault(Fault(route=GET_IPS, kind="status", status=503, count=100))
    wait_until(lambda: _card_says(fake_slack, request_id, "outcome is not known yet"), timeout=10)
    assert stored(bot, request_id) is S.APPLYING
    assert _run_job(bot, "reconcile")
    assert stored(bot, request_id) is S.APPLYING

    emulator.state.clear_faults()
    assert _run_job(bot, "reconcile")  # reads back: 401, every session died with the PUT
    # Someone logs in; the read-back confirms the change.
    token = emulator.state.issue_token().value
    bot.run(bot.services.tokens.store(SecretStr(token), user_id="EMU001", via=TokenSource.OAUTH))
    assert _run_job(bot, "reconcile")
    wait_until(lambda: stored(bot, request_id) is S.APPLIED, timeout=10)
    assert len(emulator.state.calls_to(PUT)) == 1
    events = [e.event for e in bot.run(bot.services.db.audit.list_for_request(request_id))]
    assert events == ["requested", "approved", "applying", "reconciled"]


def _card_says(fake_slack: FakeSlack, request_id: str, needle: str) -> bool:
    return any(
        needle in c.text_blob()
        for c in fake_slack.calls_to("chat.update")
        if request_id in str(c.params.get("text"))
    )


def _run_job(bot: InProcessBot, name: str) -> bool:
    result: bool = bot.run(bot.services.scheduler.run_now(name), timeout=20)
    return result
