"""Approve and Reject: who may decide, the first decision wins, the change is applied once."""

from __future__ import annotations

import httpx
import pytest

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import (
    NEW_PRIMARY,
    NEW_SECONDARY,
    PUT,
    card_updates,
    channel_posts,
    click,
    events,
    puts,
    request_change,
    stored,
    wait_state,
)
from tests.support.bot_runner import InProcessBot
from tests.support.conversation import buttons
from tests.support.fake_slack import FakeSlack

S = RequestState


def ephemeral(fake_slack: FakeSlack, key: str) -> str:
    answer = fake_slack.wait_for_response(key, timeout=10)
    assert answer.params.get("response_type") == "ephemeral"
    assert answer.params.get("replace_original") in (False, "false", None)
    return str(answer.params["text"])


def test_approval_applies_once_and_updates_the_card_for_everyone(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    applied = wait_state(bot, request.id, S.APPLIED)

    [put] = emulator.state.calls_to(PUT)
    assert put.status == 200
    assert (emulator.state.ips.primary_ip, emulator.state.ips.secondary_ip) == (
        NEW_PRIMARY,
        NEW_SECONDARY,
    )
    assert applied.decided_by == "UAPPROVER1" and applied.applied_at is not None
    assert events(bot, request.id) == ["requested", "approved", "applying", "applied"]

    fake_slack.wait_for(lambda _: len(card_updates(fake_slack, request.id)) >= 2)
    updates = card_updates(fake_slack, request.id)
    first, last = updates[0], updates[-1]
    assert (first.params["channel"], first.params["ts"]) == (request.card_channel, request.card_ts)
    assert "Approved by <@UAPPROVER1>" in first.text_blob() and "applying" in first.text_blob()
    assert "*Applied*" in last.text_blob() and "approved by <@UAPPROVER1>" in last.text_blob()
    assert all(buttons(u.params) == [] for u in updates)
    [notice] = fake_slack.wait_for(
        lambda _: channel_posts(fake_slack, "Upstox has logged out every session")
    )
    assert NEW_PRIMARY in notice.text_blob() and request.id in notice.text_blob()
    # The gateway flipped the token: everyone must log in again (issue 6 posts the link).
    status = bot.run(bot.services.tokens.status())
    assert status.health == "invalidated"


def test_late_click_is_told_who_approved_and_when(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    applied = wait_state(bot, request.id, S.APPLIED)
    assert applied.decided_at is not None
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER2")
    text = ephemeral(fake_slack, key)
    assert f"`{request.id}` was already approved by <@UAPPROVER1> at" in text
    assert applied.decided_at.astimezone().strftime("%Y") in text
    assert "It was applied at" in text
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER2", approve=False)
    assert "already approved by <@UAPPROVER1>" in ephemeral(fake_slack, key)
    assert puts(emulator) == 1
    assert stored(bot, request.id).state is S.APPLIED


def test_requester_cannot_approve_their_own_request_even_as_an_approver(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack, user_id="UAPPROVER1")
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    assert "someone else must approve it" in ephemeral(fake_slack, key)
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1", approve=False)
    assert f"/staticip cancel {request.id}" in ephemeral(fake_slack, key)
    assert stored(bot, request.id).state is S.PENDING
    assert puts(emulator) == 0
    assert card_updates(fake_slack, request.id) == []
    assert events(bot, request.id) == ["requested"]


def test_non_approver_is_refused(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    fake_slack.usergroups["SAPPROVERS"] = ["UGROUPMEMBER"]
    request = request_change(http, bot, fake_slack)
    for approve in (True, False):
        key = click(http, bot.base_url, fake_slack, request.id, user_id="UNOBODY", approve=approve)
        assert "you are not one" in ephemeral(fake_slack, key)
    assert stored(bot, request.id).state is S.PENDING
    assert puts(emulator) == 0 and card_updates(fake_slack, request.id) == []


def test_group_lookup_failure_refuses_fail_closed(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    # No such group on the fake: Slack answers no_such_subteam.
    request = request_change(http, bot, fake_slack)
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UNOBODY")
    text = ephemeral(fake_slack, key)
    assert "could not check whether you are one of the approvers" in text
    assert "no_such_subteam" in text
    assert stored(bot, request.id).state is S.PENDING and puts(emulator) == 0


def test_user_group_member_may_approve(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    fake_slack.usergroups["SAPPROVERS"] = ["UGROUPMEMBER"]
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UGROUPMEMBER")
    applied = wait_state(bot, request.id, S.APPLIED)
    assert applied.decided_by == "UGROUPMEMBER"
    assert puts(emulator) == 1
    lookups = fake_slack.calls_to("usergroups.users.list")
    assert [c.params.get("usergroup") for c in lookups] == ["SAPPROVERS"]


def test_reject_ends_the_request_and_later_clicks_are_told(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER2", approve=False)
    rejected = wait_state(bot, request.id, S.REJECTED)
    assert rejected.decided_by == "UAPPROVER2"
    [update] = fake_slack.wait_for(lambda _: card_updates(fake_slack, request.id))
    assert "*Rejected* by <@UAPPROVER2>" in update.text_blob()
    assert buttons(update.params) == []
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    assert "was already rejected by <@UAPPROVER2> at" in ephemeral(fake_slack, key)
    assert puts(emulator) == 0
    assert events(bot, request.id) == ["requested", "rejected"]


@pytest.mark.parametrize(
    "value", ["", "garbage", "r-doesnotexist", "r-' OR 1=1 --", "r-" + "a" * 1900]
)
def test_unknown_or_garbage_button_values_change_nothing(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    value: str,
) -> None:
    request = request_change(http, bot, fake_slack)
    key = click(http, bot.base_url, fake_slack, value, user_id="UAPPROVER1")
    assert "This request does not exist" in ephemeral(fake_slack, key)
    assert stored(bot, request.id).state is S.PENDING
    assert puts(emulator) == 0 and card_updates(fake_slack, request.id) == []


def test_approve_while_logged_out_is_refused_and_does_not_use_up_the_approval(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack)
    bot.run(bot.services.tokens.mark_dead("test: logged out"))
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    text = ephemeral(fake_slack, key)
    assert "Not approved yet — the request stays open" in text and "/staticip login" in text
    assert stored(bot, request.id).state is S.PENDING
    assert puts(emulator) == 0 and events(bot, request.id) == ["requested"]
