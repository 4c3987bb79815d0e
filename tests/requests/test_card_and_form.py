"""The approval card, the requester's confirmation, and the `/staticip set` form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from bot.ist import IST, format_ist
from bot.slack.blocks import validate_message, validate_view
from bot.upstox.emulator import EmulatorServer
from bot.week_window import first_monday_after
from tests.conftest import REGISTERED_PRIMARY
from tests.requests.helpers import (
    CHANNEL,
    all_requests,
    cards,
    events,
    puts,
    request_change,
)
from tests.support.bot_runner import InProcessBot
from tests.support.clock import MutableClock
from tests.support.conversation import buttons, slash
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import payload_body, post_signed


def test_card_shows_everything_an_approver_needs(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    reason = "ISP moved us <!channel> & <https://evil.example|click> *now*"
    answer = slash(http, bot.base_url, fake_slack, f"set 8.8.8.8 9.9.9.9 {reason}")

    [card] = cards(fake_slack)
    [request] = all_requests(bot)
    assert card.params["channel"] == CHANNEL
    blob = card.text_blob()
    # Requester, reason (plain text in a quote: no mention, no link, no bold), current vs
    # proposed.
    assert "<@UREQUESTER>" in blob
    assert reason_quote(card.params) == reason
    assert not [t for t in mrkdwn_texts(card.params) if "channel>" in t or "evil" in t]
    fields = [f["text"] for b in card.params["blocks"] for f in b.get("fields", [])]
    assert fields == [
        f"*Current primary*\n`{REGISTERED_PRIMARY}`",
        "*Proposed primary*\n`8.8.8.8`",
        "*Current secondary*\n_none_",
        "*Proposed secondary*\n`9.9.9.9`",
    ]
    # The week-lock warning, the logout warning, the expiry (all IST with dates).
    next_change = format_ist(first_monday_after(clock()))  # the next calendar week
    assert (
        f"This uses the change for this week — the next one is possible from {next_change}" in blob
    )
    assert "Every Upstox session will be logged out; someone must log in again" in blob
    assert f"Expires {format_ist(clock() + timedelta(hours=24))}" in blob
    # Exactly two buttons, carrying only the request id.
    approve, reject = buttons(card.params)
    assert (approve["text"]["text"], approve["style"], approve["value"]) == (
        "Approve",
        "primary",
        request.id,
    )
    assert "logs out every Upstox session" in approve["confirm"]["text"]["text"]
    assert (reject["text"]["text"], reject["style"], reject["value"]) == (
        "Reject",
        "danger",
        request.id,
    )
    validate_message(card.params)
    # Stored with where the card is, and audited.
    assert (request.card_channel, request.card_ts) == (CHANNEL, card_ts(fake_slack))
    assert request.reason == "ISP moved us <!channel> & <https://evil.example|click> *now*"
    assert events(bot, request.id) == ["requested"]
    # The requester gets the id and a link to the card, privately.
    assert answer.params["response_type"] == "ephemeral"
    permalink = f"https://fake.slack.com/archives/{CHANNEL}/p{request.card_ts.replace('.', '')}"
    assert request.id in answer.params["text"] and permalink in answer.params["text"]
    assert puts(emulator) == 0


def card_ts(fake_slack: FakeSlack) -> str:
    [call] = fake_slack.calls_to("chat.getPermalink")
    return str(call.params["message_ts"])


def test_without_a_secondary_the_registered_one_is_kept_and_shown(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    emulator.state.set_ips(REGISTERED_PRIMARY, "1.1.1.1")
    request = request_change(http, bot, fake_slack, "8.8.8.8 new host")
    assert (request.proposed_primary, request.proposed_secondary) == ("8.8.8.8", "1.1.1.1")
    fields = [f["text"] for b in cards(fake_slack)[0].params["blocks"] for f in b.get("fields", [])]
    assert "*Proposed secondary*\n`1.1.1.1` _(kept)_" in fields


def view_submission(values: dict[str, str], user_id: str = "UREQUESTER") -> str:
    state = {
        field: {"value": {"type": "plain_text_input", "value": value or None}}
        for field, value in values.items()
    }
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0FAKE"},
        "api_app_id": "A0FAKE",
        "token": "deprecated-verification-token",
        "trigger_id": "trigger-3",
        "view": {
            "id": "VFORM1",
            "type": "modal",
            "callback_id": "staticip_set",
            "hash": "h1",
            "state": {"values": state},
        },
    }
    return payload_body(payload)


def test_set_alone_opens_the_form_with_the_trigger_id(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    from tests.support.slack_requests import slash_command_body

    body = slash_command_body("set", response_url=fake_slack.response_url("f1"))
    assert post_signed(http, bot.base_url, body).status_code == 200
    opened = fake_slack.wait_for_call("views.open")
    assert opened.params["trigger_id"] == "trigger-1"
    view = opened.params["view"]
    assert view["callback_id"] == "staticip_set"
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == [
        "primary",
        "secondary",
        "reason",
        "apply_at",  # optional: an IST time schedules the change for then
    ]
    validate_view(view)


def test_form_field_errors_come_back_in_the_ack(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    response = post_signed(
        http,
        bot.base_url,
        view_submission({"primary": "10.0.0.1", "secondary": "1.2.3", "reason": ""}),
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"primary", "secondary", "reason"}
    assert "private range" in answer["errors"]["primary"]
    assert "not an IP address" in answer["errors"]["secondary"]
    assert "reason is required" in answer["errors"]["reason"]
    assert cards(fake_slack) == [] and all_requests(bot) == [] and puts(emulator) == 0


def test_form_submission_posts_the_card_and_shows_the_outcome(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    response = post_signed(
        http,
        bot.base_url,
        view_submission({"primary": "8.8.8.8", "secondary": "", "reason": "new VPS"}),
    )
    assert response.json()["response_action"] == "update"
    updated = fake_slack.wait_for_call("views.update")
    [request] = all_requests(bot)
    assert updated.params["view_id"] == "VFORM1"
    assert request.id in updated.text_blob() and "is posted for approval" in updated.text_blob()
    validate_view(updated.params["view"])
    assert len(cards(fake_slack)) == 1
    assert (request.proposed_primary, request.reason) == ("8.8.8.8", "new VPS")


def test_form_refusal_that_needs_upstox_is_shown_in_the_form(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    response = post_signed(
        http,
        bot.base_url,
        view_submission({"primary": REGISTERED_PRIMARY, "secondary": "", "reason": "oops"}),
    )
    assert response.json()["response_action"] == "update"
    updated = fake_slack.wait_for_call("views.update")
    assert "Those IPs are already registered" in updated.text_blob()
    assert cards(fake_slack) == [] and all_requests(bot) == []


def mrkdwn_texts(params: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(params["blocks"])
    return found


def reason_quote(params: dict[str, Any]) -> str:
    """The text of the card's one quoted plain-text paragraph (the reason)."""
    [quote] = [
        element
        for block in params["blocks"]
        if block["type"] == "rich_text"
        for element in block["elements"]
    ]
    assert quote["type"] == "rich_text_quote"
    [text] = quote["elements"]
    assert text["type"] == "text" and "style" not in text
    return str(text["text"])


def test_a_reason_cannot_imitate_card_lines(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    reason = "moving\n:white_check_mark: *Applied* — approved by <@UAPPROVER1>\n\n> *Status*"
    slash(http, bot.base_url, fake_slack, f"set 8.8.8.8 {reason}")

    [card] = cards(fake_slack)
    quoted = reason_quote(card.params)
    assert quoted == "moving :white_check_mark: *Applied* — approved by <@UAPPROVER1> > *Status*"
    assert not [t for t in mrkdwn_texts(card.params) if "Applied" in t or "UAPPROVER1" in t]
    validate_message(card.params)


def test_form_time_field_asks_for_a_time_and_refuses_a_bad_one(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    bad = post_signed(
        http,
        bot.base_url,
        view_submission({"primary": "10.0.0.1", "reason": "x", "apply_at": "tomorrow 4pm"}),
    ).json()
    assert bad["response_action"] == "errors"
    assert set(bad["errors"]) == {"primary", "apply_at"}  # every problem at once
    assert "2026-12-05 16:00" in bad["errors"]["apply_at"]
    assert cards(fake_slack) == [] and all_requests(bot) == [] and puts(emulator) == 0

    at = (clock() + timedelta(days=1)).astimezone(IST).replace(second=0, microsecond=0)
    response = post_signed(
        http,
        bot.base_url,
        view_submission(
            {"primary": "8.8.8.8", "reason": "later", "apply_at": at.strftime("%Y-%m-%d %H:%M")}
        ),
    )
    assert response.json()["response_action"] == "update"
    fake_slack.wait_for_call("views.update", lambda c: "is posted for approval" in c.text_blob())
    [request] = all_requests(bot)
    assert request.scheduled_at == at
    assert "Asked for" in cards(fake_slack)[0].text_blob()
