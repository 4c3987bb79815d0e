"""APPROVALS_REQUIRED=2: a change applies only when two distinct approvers (never the
requester) have approved; the card lists who approved so far; one Reject ends it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import (
    card_updates,
    click,
    events,
    puts,
    request_change,
    stored,
    wait_state,
)
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.conversation import buttons, slash
from tests.support.fake_slack import FakeSlack

S = RequestState


@pytest.fixture
def two_approvals(make_bot: Callable[..., InProcessBot], fake_slack: FakeSlack) -> InProcessBot:
    fake_slack.usergroups["SAPPROVERS"] = ["UAPPROVER3"]
    return make_bot(approvals_required="2")


def ephemeral(fake_slack: FakeSlack, key: str) -> str:
    return str(fake_slack.wait_for_response(key).params["text"])


def latest_card(fake_slack: FakeSlack, request_id: str, containing: str) -> str:
    def found() -> str | None:
        updates = card_updates(fake_slack, request_id)
        blob = updates[-1].text_blob() if updates else ""
        return blob if containing in blob else None

    return str(fake_slack.wait_for(lambda _: found()))


def test_two_distinct_approvers_make_exactly_one_put(
    two_approvals: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = two_approvals
    # The requester is an approver too: their click never counts.
    request = request_change(http, bot, fake_slack, user_id="UAPPROVER1")
    first_card = fake_slack.calls_to("chat.postMessage")[-1].text_blob()
    assert "Waiting for approvals: 0 of 2" in first_card

    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    assert "someone else must approve it" in ephemeral(fake_slack, key)

    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER2")
    card = latest_card(fake_slack, request.id, "1 of 2")
    assert "Approved so far by <@UAPPROVER2>" in card
    assert "<@UAPPROVER1>" not in card.split("Waiting for approvals")[1]
    assert stored(bot, request.id).state is S.PENDING
    assert puts(emulator) == 0

    # The same approver again: refused, still one approval.
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER2")
    assert "You have already approved" in ephemeral(fake_slack, key)
    assert puts(emulator) == 0
    assert events(bot, request.id) == ["requested", "approval"]

    # A second, distinct approver (a user-group member): the change applies, once.
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER3")
    applied = wait_state(bot, request.id, S.APPLIED)
    assert applied.decided_by == "UAPPROVER3"
    assert puts(emulator) == 1
    card = latest_card(fake_slack, request.id, "*Applied*")
    assert "<@UAPPROVER2> and <@UAPPROVER3>" in card
    assert buttons(card_updates(fake_slack, request.id)[-1].params) == []
    assert events(bot, request.id)[:4] == ["requested", "approval", "approval", "approved"]
    history = str(slash(http, bot.base_url, fake_slack, "history").params)
    assert "1 of 2 approvals" in history and "2 of 2 approvals" in history


def test_concurrent_final_approvals_give_one_put(
    two_approvals: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = two_approvals
    fake_slack.usergroups["SAPPROVERS"] = ["UAPPROVER3", "UAPPROVER4"]
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    latest_card(fake_slack, request.id, "1 of 2")
    clickers = ["UAPPROVER2", "UAPPROVER3", "UAPPROVER4"] * 4
    with ThreadPoolExecutor(len(clickers)) as pool:
        list(
            pool.map(
                lambda u: click(http, bot.base_url, fake_slack, request.id, user_id=u), clickers
            )
        )
    wait_state(bot, request.id, S.APPLIED)
    wait_until(lambda: events(bot, request.id)[-1] == "applied", 10)
    assert puts(emulator) == 1
    assert events(bot, request.id).count("approved") == 1


def test_one_reject_with_a_reason_ends_it(
    two_approvals: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = two_approvals
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    latest_card(fake_slack, request.id, "1 of 2")

    # Reject opens a modal asking for an optional reason; the submission decides.
    reason = "wrong host <!channel> — use the VPS"
    click(
        http,
        bot.base_url,
        fake_slack,
        request.id,
        user_id="UAPPROVER2",
        approve=False,
        reason=reason,
    )
    opened = fake_slack.calls_to("views.open")[-1]
    assert opened.params["view"]["callback_id"] == "staticip_reject"
    assert opened.params["view"]["private_metadata"] == request.id
    rejected = wait_state(bot, request.id, S.REJECTED)
    assert rejected.decided_by == "UAPPROVER2"
    card = latest_card(fake_slack, request.id, "*Rejected* by <@UAPPROVER2>")
    assert "Reason given: wrong host &lt;!channel&gt; — use the VPS" in card
    assert "<!channel>" not in card
    outcome = fake_slack.calls_to("views.update")[-1].text_blob()
    assert f"Rejected request `{request.id}`" in outcome

    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER3")
    late = ephemeral(fake_slack, key)
    assert "was already rejected by <@UAPPROVER2>" in late and "wrong host" in late
    assert puts(emulator) == 0
    assert events(bot, request.id) == ["requested", "approval", "rejected"]
    history = str(slash(http, bot.base_url, fake_slack, "history").params)
    assert "wrong host &lt;!channel&gt; — use the VPS" in history


def test_reject_without_a_reason_and_a_refused_reject_opens_no_modal(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    fake_slack.usergroups["SAPPROVERS"] = []
    request = request_change(http, bot, fake_slack)
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UNOBODY", approve=False)
    assert "Only approvers can reject" in ephemeral(fake_slack, key)
    assert fake_slack.calls_to("views.open") == []
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1", approve=False)
    rejected = wait_state(bot, request.id, S.REJECTED)
    assert rejected.failure_reason is None
    card = latest_card(fake_slack, request.id, "*Rejected* by <@UAPPROVER1>")
    assert "Reason given:" not in card
    assert puts(emulator) == 0
