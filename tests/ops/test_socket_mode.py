"""Socket Mode end to end: the real bot with SLACK_APP_TOKEN against a WebSocket fake of
Slack. Every envelope is acked by its envelope_id; a slash command, a button click and a
modal submission work as over HTTP; a connection Slack rotates is reopened and nothing is
lost across it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest

from bot.requests.blocks import APPROVE_ACTION
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.requests.helpers import NEW_PRIMARY, PUT, all_requests, cards, wait_state
from tests.requests.test_card_and_form import view_submission
from tests.support.bot_runner import InProcessBot
from tests.support.conversation import new_key
from tests.support.fake_slack import FakeSlack
from tests.support.fake_socket_mode import FakeSocketMode
from tests.support.slack_requests import block_actions_body, slash_command_body

APP_TOKEN = "xapp-1-A0FAKE-1234567890-socketmodetesttoken"


def _slash(
    fake_slack: FakeSlack, text: str, key: str, user_id: str = "UREQUESTER"
) -> dict[str, Any]:
    body = slash_command_body(text, user_id=user_id, response_url=fake_slack.response_url(key))
    return dict(parse_qsl(body, keep_blank_values=True))


def _payload(body: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
    return loaded


@pytest.fixture
def socket(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    server = FakeSocketMode().start()
    fake_slack.socket_mode_url = server.url
    yield server
    server.stop()


@pytest.fixture
def socket_bot(
    socket: FakeSocketMode, make_bot: Callable[..., InProcessBot], fake_slack: FakeSlack
) -> InProcessBot:
    # No signing secret at all: Socket Mode does not need one.
    bot = make_bot(SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    socket.wait_connected(1)
    [opened] = fake_slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN  # the app-level token, not the bot token
    return bot


def test_show_over_socket_mode(
    socket_bot: InProcessBot, socket: FakeSocketMode, fake_slack: FakeSlack, http: Any
) -> None:
    envelope = socket.send("slash_commands", _slash(fake_slack, "show", "show-1"))
    ack = socket.wait_ack(envelope)
    assert ack["envelope_id"] == envelope
    answer = fake_slack.wait_for_response("show-1")
    assert REGISTERED_PRIMARY in answer.text_blob()
    # Over Socket Mode there is no /slack/events route to attack.
    assert http.post(f"{socket_bot.base_url}/slack/events", content="x").status_code == 404


def test_help_is_answered_in_the_ack_itself(
    socket_bot: InProcessBot, socket: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    envelope = socket.send("slash_commands", _slash(fake_slack, "help", "help-1"))
    ack = socket.wait_ack(envelope)
    assert "/staticip show" in ack["payload"]["text"]


def test_a_whole_change_approved_through_socket_mode(
    socket_bot: InProcessBot,
    socket: FakeSocketMode,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    # The form: `set` alone opens it, its submission is answered in the ack.
    opened = socket.send("slash_commands", _slash(fake_slack, "set", "set-1"))
    socket.wait_ack(opened)
    fake_slack.wait_for_call("views.open")
    submitted = socket.send(
        "interactive",
        _payload(view_submission({"primary": NEW_PRIMARY, "secondary": "", "reason": "new VPS"})),
    )
    assert socket.wait_ack(submitted)["payload"]["response_action"] == "update"
    fake_slack.wait_for(lambda _: cards(fake_slack))
    [request] = all_requests(socket_bot)

    # The Approve button.
    click_key = new_key("click")
    clicked = socket.send(
        "interactive",
        _payload(
            block_actions_body(
                APPROVE_ACTION,
                request.id,
                user_id="UAPPROVER1",
                response_url=fake_slack.response_url(click_key),
            )
        ),
    )
    socket.wait_ack(clicked)
    wait_state(socket_bot, request.id, RequestState.APPLIED)
    assert len(emulator.state.calls_to(PUT)) == 1
    assert emulator.state.ips.primary_ip == NEW_PRIMARY


def test_form_errors_come_back_in_the_ack(
    socket_bot: InProcessBot, socket: FakeSocketMode, emulator: EmulatorServer
) -> None:
    submitted = socket.send(
        "interactive",
        _payload(view_submission({"primary": "10.0.0.1", "secondary": "", "reason": ""})),
    )
    ack = socket.wait_ack(submitted)["payload"]
    assert ack["response_action"] == "errors"
    assert set(ack["errors"]) == {"primary", "reason"}
    assert all_requests(socket_bot) == [] and emulator.state.calls_to(PUT) == []


def test_a_rotated_connection_is_reopened_and_nothing_is_lost(
    socket_bot: InProcessBot,
    socket: FakeSocketMode,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
) -> None:
    # A request made before Slack rotates the connection…
    before = socket.send("slash_commands", _slash(fake_slack, f"set {NEW_PRIMARY} moving", "s-1"))
    socket.wait_ack(before)
    assert "is posted for approval" in fake_slack.wait_for_response("s-1").params["text"]
    [request] = all_requests(socket_bot)

    socket.disconnect()
    socket.wait_connected(2)
    assert len(fake_slack.calls_to("apps.connections.open")) == 2

    # …is approved after it, over the new connection, and applied once.
    clicked = socket.send(
        "interactive",
        _payload(
            block_actions_body(
                APPROVE_ACTION,
                request.id,
                user_id="UAPPROVER1",
                response_url=fake_slack.response_url(new_key("click")),
            )
        ),
    )
    assert socket.wait_ack(clicked)["envelope_id"] == clicked
    wait_state(socket_bot, request.id, RequestState.APPLIED)
    after = socket.send("slash_commands", _slash(fake_slack, "status", "st-1"))
    socket.wait_ack(after)
    fake_slack.wait_for_response("st-1")
    assert len(emulator.state.calls_to(PUT)) == 1
    assert set(socket.acks) >= {before, clicked, after}


def test_an_envelope_whose_ack_was_lost_in_a_reconnect_is_answered_on_redelivery(
    socket_bot: InProcessBot, socket: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    # The connection is rotated right behind the envelope, so its ack (if any) is lost;
    # Slack then delivers it again on the new connection.
    lost = socket.send("slash_commands", _slash(fake_slack, "status", "lost-1"), then_drop=True)
    socket.wait_connected(2)
    socket.redeliver_unacked()
    assert socket.wait_ack(lost)["envelope_id"] == lost
    assert "Upstox" in fake_slack.wait_for_response("lost-1").text_blob()
