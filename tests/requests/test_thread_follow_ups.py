"""Everything after the card is a reply in its thread; the channel's top level gets only
new cards and alerts."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import CHANNEL, click, puts, request_change, wait_state
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.replicas import log_in_via_callback

S = RequestState


def posts(fake_slack: FakeSlack) -> list[SlackCall]:
    return [
        c for c in fake_slack.calls_to("chat.postMessage") if c.params.get("channel") == CHANNEL
    ]


def thread_of(fake_slack: FakeSlack, card_ts: str) -> list[str]:
    return [c.text_blob() for c in posts(fake_slack) if c.params.get("thread_ts") == card_ts]


def top_level(fake_slack: FakeSlack) -> list[SlackCall]:
    return [c for c in posts(fake_slack) if not c.params.get("thread_ts")]


def test_approvals_re_check_put_and_logout_are_replies_in_the_cards_thread(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    bot = make_bot(approvals_required="2")
    request = request_change(http, bot, fake_slack)
    assert request.card_ts is not None
    card_ts = request.card_ts
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_until(lambda: len(thread_of(fake_slack, request.card_ts or "")) == 1, 10)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER2")
    wait_state(bot, request.id, S.APPLIED)
    wait_until(
        lambda: any("IPs are now" in t for t in thread_of(fake_slack, request.card_ts or "")), 10
    )
    assert puts(emulator) == 1

    thread = thread_of(fake_slack, request.card_ts)
    assert "<@UAPPROVER1> approved; 2 approvals are needed" in thread[0]
    assert "Approved by <@UAPPROVER2>. Re-checking the registered IPs" in thread[1]
    assert "The static IPs are now `8.8.8.8` (primary)" in thread[2]
    assert "logged out every session" in thread[2]
    # Every follow-up carries the card's thread_ts; the top level has the card and the
    # login alert (an alert), nothing else.
    first, *others = top_level(fake_slack)
    assert first.text_blob().count(f"IP change request {request.id}") >= 1
    assert first.params.get("thread_ts") is None
    assert len(others) == 1 and "Log in to Upstox" in others[0].text_blob()
    replies = [c for c in posts(fake_slack) if c.params.get("thread_ts")]
    assert len(replies) == 3
    assert {c.params["thread_ts"] for c in replies} == {request.card_ts}

    # The login after the change is told in the thread too (the channel's confirmation
    # belongs to the login alert); a later, routine login is not.
    assert log_in_via_callback(http, bot.base_url, fake_slack).status_code == 200
    wait_until(lambda: len(thread_of(fake_slack, card_ts)) == 4, 10)
    assert (
        "Logged in to Upstox again as `EMU001` by <@UREQUESTER>"
        in thread_of(fake_slack, card_ts)[3]
    )
    assert log_in_via_callback(http, bot.base_url, fake_slack).status_code == 200
    wait_until(lambda: not bot.services.requests._tasks, 10)  # its background follow-up ran
    assert len(thread_of(fake_slack, card_ts)) == 4
    assert all(
        c.params.get("thread_ts") == card_ts
        for c in posts(fake_slack)[1:]
        if (
            "Log in to Upstox" not in c.text_blob()
            and "Logged in to Upstox as" not in c.text_blob()
        )
    )


def test_reject_cancel_expiry_and_failure_are_replies_in_the_cards_thread(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    rejected = request_change(http, bot, fake_slack)
    click(
        http,
        bot.base_url,
        fake_slack,
        rejected.id,
        user_id="UAPPROVER1",
        approve=False,
        reason="no",
    )
    cancelled = request_change(http, bot, fake_slack, "1.1.1.1 second")
    slash(http, bot.base_url, fake_slack, f"cancel {cancelled.id}")
    drifted = request_change(http, bot, fake_slack, "1.0.0.1 third")
    emulator.state.set_ips("203.0.113.77", None)  # changed behind the bot's back
    click(http, bot.base_url, fake_slack, drifted.id, user_id="UAPPROVER1")
    wait_state(bot, drifted.id, S.FAILED)

    def replies_of(ts: str | None, count: int) -> list[str]:
        wait_until(lambda: len(thread_of(fake_slack, ts or "")) >= count, 10)
        return thread_of(fake_slack, ts or "")

    assert (
        "Rejected by <@UAPPROVER1>. Nothing was changed. Reason given: no"
        in replies_of(rejected.card_ts, 1)[0]
    )
    assert "Cancelled by <@UREQUESTER>" in replies_of(cancelled.card_ts, 1)[0]
    drift_thread = replies_of(drifted.card_ts, 2)
    assert "Approved by <@UAPPROVER1>" in drift_thread[0]
    assert "Failed: the registered IPs changed since this request" in drift_thread[1]
    assert len(top_level(fake_slack)) == 3  # the three cards, nothing else
    assert puts(emulator) == 0
