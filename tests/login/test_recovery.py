"""The way back after a change, as the desk sees it: IPs changed → logged out → logged in →
the token handed to every sink → "trading can resume"; status shows each sink, and a token
nobody picked up raises one alert that clears once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.home.test_app_home import open_home
from tests.login.conftest import MakeBot
from tests.login.helpers import channel_posts, dead_alerts, login_url, slash, stored_token
from tests.requests.helpers import click, request_change, wait_state
from tests.support.bot_runner import TOKEN_API_KEY, TOKEN_WEBHOOK_SECRET, InProcessBot
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.webhook_server import WebhookServer


def handovers(fake_slack: FakeSlack) -> list[SlackCall]:
    """The hand-over message as posted and each in-place update of it."""
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage") + fake_slack.calls_to("chat.update")
        if "Token hand-over for app default" in c.text_blob()
    ]


def profile_works(http: httpx.Client, emulator: EmulatorServer, token: str) -> bool:
    answer = http.get(
        f"{emulator.base_url}/v2/user/profile", headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code == 200


def test_after_a_change_every_sink_gets_the_new_token_and_trading_can_resume(
    make_bot: MakeBot,
    tmp_path: Path,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    upstox_token: str,
) -> None:
    webhook = WebhookServer(TOKEN_WEBHOOK_SECRET)
    webhook.script = [500]
    token_file = tmp_path / "token.json"
    try:
        bot = make_bot(
            token_file=str(token_file),
            token_api_keys=TOKEN_API_KEY,
            token_webhook_url=webhook.url,
            token_webhook_secret=TOKEN_WEBHOOK_SECRET,
        )
        bot.services.delivery.backoff_base = 0.05

        # The IPs change: every token of the user dies at Upstox, the bot says so.
        request = request_change(http, bot, fake_slack)
        click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
        wait_state(bot, request.id, RequestState.APPLIED)
        assert not profile_works(http, emulator, upstox_token)
        [alert] = fake_slack.wait_for(lambda _: dead_alerts(fake_slack), timeout=5)
        logged_out = http.get(
            f"{bot.base_url}/token", headers={"Authorization": f"Bearer {TOKEN_API_KEY}"}
        )
        assert logged_out.status_code == 503

        # Someone logs in through the alert's link.
        page = http.get(login_url(alert), follow_redirects=True)
        assert page.status_code == 200
        new = stored_token(bot)
        assert new is not None and new != upstox_token
        bot.run(bot.services.delivery.idle())

        # Every sink has it, and it works at Upstox.
        from_file = json.loads(token_file.read_text())["access_token"]
        fetched = http.get(
            f"{bot.base_url}/token", headers={"Authorization": f"Bearer {TOKEN_API_KEY}"}
        ).json()["access_token"]
        pushed = [r for r in webhook.snapshot() if r.status == 200]
        assert from_file == fetched == new
        assert [r.token for r in pushed] == [new] and pushed[0].signature_ok
        assert all(profile_works(http, emulator, t) for t in (from_file, fetched, pushed[0].token))

        # The channel shows the way back, the hand-over updated in place.
        messages = fake_slack.wait_for(
            lambda _: [m for m in handovers(fake_slack) if "Trading can resume" in m.text_blob()],
            timeout=5,
        )
        final = messages[-1].text_blob()
        assert "token file written" in final
        assert "webhook (127.0.0.1) accepted (attempt 2)" in final
        assert "GET /token serves it to 1 key(s)" in final
        posts = [m for m in handovers(fake_slack) if m.method == "chat.postMessage"]
        updates = [m for m in handovers(fake_slack) if m.method == "chat.update"]
        assert len(posts) == 1  # one message, updated in place (if the webhook was slower)
        assert len({m.params["ts"] for m in updates}) <= 1
        # It is the approval card's thread (shown in the channel too) that tells the story.
        card_ts = bot.run(bot.services.db.requests.get(request.id)).card_ts  # type: ignore[union-attr]
        assert posts[0].params["thread_ts"] == card_ts and posts[0].params["reply_broadcast"]
        story = str(messages[-1].params["text"]).split("\n")
        assert (
            story[0].startswith(":arrows_counterclockwise: IPs changed") and request.id in story[0]
        )
        assert "Upstox logged out every session" in story[0]
        assert "Logged in to Upstox as EMU001 (through the alert's login link)" in story[1]
        assert story[-1] == ":white_check_mark: Trading can resume."
        order = [c.text_blob() for c in fake_slack.calls_to("chat.postMessage")]
        logged_in_at = next(i for i, t in enumerate(order) if "Logged in to Upstox as" in t)
        handover_at = next(i for i, t in enumerate(order) if "Token hand-over" in t)
        assert logged_in_at < handover_at

        # A later login (no change in between) is an ordinary hand-over, not in the thread.
        link = bot.run(bot.services.links.login_link("UTRADER"))
        assert http.get(link.url, follow_redirects=True).status_code == 200
        later = fake_slack.wait_for(
            lambda _: [m for m in handovers(fake_slack) if m.method == "chat.postMessage"][1:],
            timeout=5,
        )
        assert "thread_ts" not in later[0].params and "IPs changed" not in later[0].text_blob()
        bot.run(bot.services.delivery.idle())

        # /staticip status shows the last hand-over per sink and the last pickup.
        status = slash(http, bot, fake_slack, "status", key="status").text_blob()
        assert "Token delivery (default): file: written" in status
        assert "GET /token: last fetched by key" in status
        assert "webhook: delivered (2xx, attempt 1)" in status  # the later login
    finally:
        webhook.stop()


def pickup_alerts(fake_slack: FakeSlack) -> list[SlackCall]:
    return channel_posts(fake_slack, "Nobody has picked up the Upstox token")


def pickup_cleared(fake_slack: FakeSlack) -> list[SlackCall]:
    return channel_posts(fake_slack, "was picked up: fetched by key")


def run_check(bot: InProcessBot) -> None:
    assert bot.run(bot.services.scheduler.run_now("token_pickup"))


def test_a_token_nobody_picked_up_alerts_once_and_clears_once(
    make_bot: MakeBot, http: httpx.Client, fake_slack: FakeSlack, clock: MutableClock
) -> None:
    clock.clear_of_token_expiry(timedelta(hours=1))  # the test waits 16 minutes
    bot = make_bot(token_api_keys=TOKEN_API_KEY)
    link = bot.run(bot.services.links.login_link("UTRADER"))
    assert http.get(link.url, follow_redirects=True).status_code == 200

    clock.advance(timedelta(minutes=14))
    run_check(bot)
    assert pickup_alerts(fake_slack) == []  # not yet: the default limit is 15 minutes

    clock.advance(timedelta(minutes=2))
    run_check(bot)
    run_check(bot)
    [alert] = pickup_alerts(fake_slack)
    assert "app default" in alert.text_blob() and "no GET /token fetch" in alert.text_blob()
    assert "default" in bot.run(bot.services.alerts.active())[0]

    picked = http.get(f"{bot.base_url}/token", headers={"Authorization": f"Bearer {TOKEN_API_KEY}"})
    assert picked.status_code == 200
    run_check(bot)
    run_check(bot)
    assert len(pickup_cleared(fake_slack)) == 1
    assert len(pickup_alerts(fake_slack)) == 1
    assert bot.run(bot.services.alerts.active()) == []


def test_the_app_home_shows_the_last_delivery_per_sink_and_the_last_pickup(
    make_bot: MakeBot, tmp_path: Path, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot = make_bot(token_file=str(tmp_path / "token.json"), token_api_keys=TOKEN_API_KEY)
    open_home(http, bot)
    first = fake_slack.wait_for_call("views.publish")
    assert "GET /token: not fetched yet" in json.dumps(first.params["view"])

    link = bot.run(bot.services.links.login_link("UTRADER"))
    assert http.get(link.url, follow_redirects=True).status_code == 200
    picked = http.get(f"{bot.base_url}/token", headers={"Authorization": f"Bearer {TOKEN_API_KEY}"})
    assert picked.status_code == 200
    open_home(http, bot, user="UVIEWER2")

    view = fake_slack.wait_for_call(
        "views.publish", lambda c: c.params.get("user_id") == "UVIEWER2"
    ).params["view"]
    blob = json.dumps(view)
    assert "Token delivery (default): file: written" in blob
    assert "GET /token: last fetched by key" in blob
    assert TOKEN_API_KEY not in blob
