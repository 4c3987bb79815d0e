"""Cancel, the expiry sweep, and the audit trail in `/staticip history`."""

from __future__ import annotations

from datetime import timedelta

import httpx

from bot.requests.blocks import HISTORY_OLDER_ACTION
from bot.slack.blocks import validate_message
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import (
    card_updates,
    click,
    click_older,
    events,
    puts,
    request_change,
    stored,
    wait_state,
)
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.conversation import buttons, slash
from tests.support.fake_slack import FakeSlack

S = RequestState


def test_requester_cancels_and_the_card_says_so(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request = request_change(http, bot, fake_slack)
    answer = slash(http, bot.base_url, fake_slack, f"cancel {request.id}")
    assert f"Cancelled request `{request.id}`" in answer.params["text"]
    cancelled = stored(bot, request.id)
    assert (cancelled.state, cancelled.decided_by) == (S.CANCELLED, "UREQUESTER")
    [update] = card_updates(fake_slack, request.id)
    assert "*Cancelled* by <@UREQUESTER>" in update.text_blob() and buttons(update.params) == []
    # A later click is told; a new request may now be made.
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    assert (
        "was already cancelled by <@UREQUESTER>" in fake_slack.wait_for_response(key).params["text"]
    )
    assert request_change(http, bot, fake_slack, "1.1.1.1 second try").id != request.id
    assert puts(emulator) == 0


def test_cancel_rules(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    fake_slack.usergroups["SAPPROVERS"] = []
    request = request_change(http, bot, fake_slack)
    text = slash(http, bot.base_url, fake_slack, "cancel").params["text"]
    assert "Give the request id" in text and request.id in text
    text = slash(http, bot.base_url, fake_slack, "cancel r-nosuchid").params["text"]
    assert "This request does not exist" in text
    text = slash(http, bot.base_url, fake_slack, f"cancel {request.id}", user_id="UOTHER").params[
        "text"
    ]
    assert "Only the requester (<@UREQUESTER>) or an approver can cancel" in text
    assert stored(bot, request.id).state is S.PENDING
    # An approver may cancel someone else's request.
    slash(http, bot.base_url, fake_slack, f"cancel {request.id}", user_id="UAPPROVER2")
    assert stored(bot, request.id).decided_by == "UAPPROVER2"


def test_an_applied_request_cannot_be_cancelled(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_state(bot, request.id, S.APPLIED)
    text = slash(http, bot.base_url, fake_slack, f"cancel {request.id}").params["text"]
    assert "was already approved by <@UAPPROVER1>" in text
    assert stored(bot, request.id).state is S.APPLIED


def test_expiry_sweep_expires_pending_requests_and_updates_their_cards(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    request = request_change(http, bot, fake_slack)
    assert bot.run(bot.services.requests.expire_due()) == []
    clock.advance(timedelta(hours=24))
    [expired] = bot.run(bot.services.requests.expire_due())
    assert (expired.id, expired.state) == (request.id, S.EXPIRED)
    assert bot.run(bot.services.requests.expire_due()) == []  # once
    [update] = card_updates(fake_slack, request.id)
    assert "*Expired*" in update.text_blob() and buttons(update.params) == []
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    assert "expired at" in fake_slack.wait_for_response(key).params["text"]
    assert events(bot, request.id) == ["requested", "expired"] and puts(emulator) == 0


def test_click_after_expiry_before_the_sweep_expires_it(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    request = request_change(http, bot, fake_slack)
    clock.advance(timedelta(hours=24, seconds=1))
    key = click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    assert "without a decision" in fake_slack.wait_for_response(key).params["text"]
    assert stored(bot, request.id).state is S.EXPIRED and puts(emulator) == 0


def test_history_is_newest_first_paginated_and_ephemeral(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    request = request_change(http, bot, fake_slack, "8.8.8.8 <b>moving</b> & co")
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1", approve=False)
    wait_state(bot, request.id, S.REJECTED)
    for n in range(5):
        other = request_change(http, bot, fake_slack, f"8.8.8.8 try {n}")
        slash(http, bot.base_url, fake_slack, f"cancel {other.id}")

    answer = slash(http, bot.base_url, fake_slack, "history")
    assert answer.params["response_type"] == "ephemeral"
    first_page = answer.text_blob()
    assert "page 1, newest first" in first_page
    assert "/staticip history 2" in first_page
    validate_message(answer.params)
    lines = [b["text"]["text"] for b in answer.params["blocks"] if b["type"] == "section"]
    assert len(lines) == 10
    assert lines[0].startswith(":wastebasket: *cancelled*")  # the newest event
    [older] = buttons(answer.params)
    assert older["action_id"] == HISTORY_OLDER_ACTION and older["text"]["text"] == "Older"

    # The Older button, clicked as Slack sends it: the next page replaces the message.
    shown = click_older(http, bot.base_url, fake_slack, older["value"])
    assert shown.params["replace_original"] is True
    assert shown.params["response_type"] == "ephemeral"
    validate_message(shown.params)
    blob = shown.text_blob()
    assert "page 2, newest first" in blob
    assert f"*rejected* `{request.id}` by <@UAPPROVER1>" in blob
    assert "&lt;b&gt;moving&lt;/b&gt; &amp; co" in blob and "<b>" not in blob
    assert buttons(shown.params) == []  # the oldest page has no Older
    # A typed page number reaches the same page.
    second = slash(http, bot.base_url, fake_slack, "history 2")
    assert second.params["blocks"] == shown.params["blocks"]

    for bad, expected in [
        ("history 3", "There is no page 3: the history has 2 pages (12 events)"),
        ("history 0", "`0` is not a page number"),
        ("history two", "`two` is not a page number"),
        ("history -1", "`-1` is not a page number"),
    ]:
        assert expected in slash(http, bot.base_url, fake_slack, bad).params["text"]


def test_an_older_button_the_bot_did_not_make_changes_nothing(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    """The button's value comes back in the action payload: anything but a cursor the bot
    made for this account gets a clear answer, and the history message stays as it was."""
    request = request_change(http, bot, fake_slack, "8.8.8.8 one")
    # Another account's event, with this account's `requested` below it and `cancelled`
    # above: a cursor naming it must not read this account's events.
    theirs = bot.run(bot.services.db.audit.append("another-app", "requested", "UOTHER"))
    slash(http, bot.base_url, fake_slack, f"cancel {request.id}")
    mine = bot.run(bot.services.db.audit.list_for_request(request.id))
    assert mine[0].id < theirs.id < mine[-1].id
    calls_before = len(fake_slack.calls)

    not_a_page = "That is not a history page; nothing was changed."
    not_ours = "That history page is not this account's"
    for value, expected in [
        ("", not_a_page),
        ("7", not_a_page),
        (f":{mine[-1].id}", not_a_page),
        (":abc:2", not_a_page),
        (":-5:2", not_a_page),
        (":0:2", not_a_page),
        (f":{mine[-1].id}:1", not_a_page),
        (f":{mine[-1].id}:2\n", not_a_page),
        (":١٢:2", not_a_page),
        (f":{mine[-1].id}:2:extra", not_a_page),
        ("x" * 3000, not_a_page),
        (f"NOBODY:{mine[-1].id}:2", not_a_page),
        (f"nobody:{mine[-1].id}:2", "There is no such account"),
        (f":{theirs.id}:2", not_ours),
        (f":{theirs.id + 1000}:2", not_ours),
        (":9999999999:2", not_ours),
    ]:
        told = click_older(http, bot.base_url, fake_slack, value)
        text = told.params["text"]
        assert expected in text, (value, text)
        assert "went wrong" not in text
        assert told.params["response_type"] == "ephemeral"
        assert told.params.get("replace_original") is False and "blocks" not in told.params

    # Only those answers reached Slack: no message was replaced, nothing else was posted.
    assert {c.method for c in fake_slack.calls[calls_before:]} == {"response_url"}
    # The last event's own cursor is this account's: an (empty) older page, no Older button.
    shown = click_older(http, bot.base_url, fake_slack, f":{mine[0].id}:2")
    assert shown.params["replace_original"] is True and "Nothing older" in shown.text_blob()
    assert buttons(shown.params) == []
