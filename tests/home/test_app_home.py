"""The App Home over the real pipeline: signed events and clicks, the fake Slack Web API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from bot.upstox.emulator import EmulatorServer
from tests.conftest import REGISTERED_PRIMARY
from tests.jobs.helpers import run_job
from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.public_ip_server import PublicIpServer
from tests.support.slack_requests import block_actions_body, post_signed, slash_command_body

VIEWER = "UVIEWER1"


def open_home(http: httpx.Client, bot: InProcessBot, user: str = VIEWER, tab: str = "home") -> None:
    body = json.dumps(
        {
            "token": "deprecated",
            "team_id": "T0FAKE",
            "api_app_id": "A0FAKE",
            "type": "event_callback",
            "event_id": f"Ev-{user}-{tab}",
            "event_time": 1700000000,
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": tab,
                "event_ts": "1700000000.000100",
            },
        }
    )
    response = post_signed(
        http, bot.base_url, body, extra_headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200


def publishes(fake_slack: FakeSlack, user: str = VIEWER) -> list[SlackCall]:
    return [c for c in fake_slack.calls_to("views.publish") if c.params.get("user_id") == user]


def view_of(call: SlackCall) -> dict[str, Any]:
    view = call.params["view"]
    assert isinstance(view, dict)
    return view


def test_opening_the_home_publishes_ips_window_token_and_buttons(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    bot = make_bot()
    open_home(http, bot, tab="messages")  # not the Home tab: nothing to publish
    open_home(http, bot)
    call = fake_slack.wait_for_call("views.publish")
    assert call.params["user_id"] == VIEWER and len(publishes(fake_slack)) == 1
    view = view_of(call)
    assert view["type"] == "home"
    blob = json.dumps(view)
    assert REGISTERED_PRIMARY in blob
    assert "Next allowed change:* now" in blob
    assert "logged in, valid until" in blob
    assert "home_request_change" in blob and "home_login" in blob
    assert len(emulator.state.calls_to("GET /v2/user/ip")) == 1

    open_home(http, bot)  # a second open within a minute reuses the read
    fake_slack.wait_for(lambda calls: len(publishes(fake_slack)) == 2)
    assert len(emulator.state.calls_to("GET /v2/user/ip")) == 1


def test_recent_viewers_get_a_fresh_home_when_an_alert_starts(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    http: httpx.Client,
    ip_server: PublicIpServer,
) -> None:
    bot = make_bot(public_ip_url=ip_server.url())
    open_home(http, bot)
    fake_slack.wait_for(lambda calls: len(publishes(fake_slack)) == 1)

    assert run_job(bot, "ip_watch")  # the IP server answers an unregistered IP
    fake_slack.wait_for(lambda calls: len(publishes(fake_slack)) == 2)
    assert "Active alerts:* drift" in json.dumps(view_of(publishes(fake_slack)[-1]))
    bot.run(bot.services.home.wait_idle())
    assert len(publishes(fake_slack)) == 2  # one refresh per change, not one per check

    assert run_job(bot, "ip_watch")  # same state: no re-publish
    bot.run(bot.services.home.wait_idle())
    assert len(publishes(fake_slack)) == 2


def test_request_change_button_opens_the_change_modal(
    make_bot: Callable[..., InProcessBot], fake_slack: FakeSlack, http: httpx.Client
) -> None:
    bot = make_bot()
    body = block_actions_body("home_request_change", "request_change", user_id=VIEWER)
    assert post_signed(http, bot.base_url, body).status_code == 200
    call = fake_slack.wait_for_call("views.open")
    assert call.params["trigger_id"] == "trigger-2"
    view = view_of(call)
    assert view["type"] == "modal" and view["callback_id"] == "staticip_set"  # issue 5's form
    assert fake_slack.calls_to("chat.postMessage") == []


def test_log_in_button_opens_a_modal_with_a_fresh_login_link_and_no_secret(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
) -> None:
    bot = make_bot()
    body = block_actions_body("home_login", "login", user_id=VIEWER)
    assert post_signed(http, bot.base_url, body).status_code == 200
    call = fake_slack.wait_for_call("views.open")
    blob = json.dumps(view_of(call))
    assert f"{emulator.base_url}/v2/login/authorization/dialog" in blob
    assert "Log in to Upstox" in blob
    assert upstox_token not in blob and "test-bot-secret-key" not in blob

    # The URL button itself only needs an ack.
    click = block_actions_body("upstox_login", "", user_id=VIEWER)
    assert post_signed(http, bot.base_url, click).status_code == 200


def test_recent_viewers_see_a_new_change_request_on_their_home(
    make_bot: Callable[..., InProcessBot],
    fake_slack: FakeSlack,
    http: httpx.Client,
) -> None:
    bot = make_bot()
    open_home(http, bot)
    fake_slack.wait_for(lambda calls: len(publishes(fake_slack)) == 1)

    body = slash_command_body(
        "set 8.8.4.4 moving to the new leased line",
        user_id="UREQUESTER",
        response_url=fake_slack.response_url("set"),
    )
    assert post_signed(http, bot.base_url, body).status_code == 200
    card = fake_slack.wait_for_call("chat.postMessage")
    assert "8.8.4.4" in card.text_blob()

    refreshed = fake_slack.wait_for(
        lambda calls: [c for c in publishes(fake_slack) if "8.8.4.4" in c.text_blob()]
    )
    assert "pending" in refreshed[0].text_blob().lower()
