"""Several Upstox apps of one user in the bot: the bot's own (`default`, the IP API) and the
trading systems' (UPSTOX_TRADING_APPS). A change logs every app out; each app logs in on its
own (link or phone), its token goes to its own sinks, and a login link of one app can only
ever store that app's token."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.login.blocks import LOGIN_ACTION_ID
from bot.login.tokens import NotLoggedIn
from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.home.test_app_home import open_home
from tests.login.helpers import (
    TOKEN_REQUEST,
    dead_alerts,
    exchanges,
    login_url,
    query,
    slash,
    stored_token,
    upstox_redirect,
    with_query,
)
from tests.login.test_morning import (
    SATURDAY_0830,
    TUESDAY_EVENING,
    WEDNESDAY_0830,
    morning_posts,
    run_job,
    set_clocks,
)
from tests.requests.helpers import click, request_change, wait_state
from tests.support.bot_runner import TOKEN_API_KEY, InProcessBot, settings_from_env
from tests.support.clock import MutableClock
from tests.support.conversation import buttons
from tests.support.fake_slack import FakeSlack, SlackCall

ALGO_KEY = "algo-consumer-key-0123456789abcdef"
HEDGE_KEY = "hedge-consumer-key-0123456789abcdef"

MakeAppsBot = Callable[..., InProcessBot]


@pytest.fixture
def make_apps_bot(
    env: dict[str, str], emulator: EmulatorServer, clock: MutableClock, tmp_path: Path
) -> Iterator[MakeAppsBot]:
    """A bot with two trading apps, `algo` (token file + GET /token/algo) and `hedge`
    (GET /token/hedge), each registered with the emulator with the bot's own callback and
    notifier URLs (the callback is shared by every app)."""
    started: list[InProcessBot] = []

    def make(**overrides: str) -> InProcessBot:
        def settings_for(port: int) -> Settings:
            base = f"http://127.0.0.1:{port}"
            callback, notifier = f"{base}/upstox/callback", f"{base}/upstox/notifier"
            answer = httpx.post(
                f"{emulator.base_url}/_emulator/config",
                json={"redirect_uri": callback, "notifier_url": notifier},
                timeout=5,
            )
            answer.raise_for_status()
            apps = [
                {
                    "name": "algo",
                    "client_id": "algo-app-key",
                    "client_secret": "algo-app-secret",
                    "redirect_uri": callback,
                    "token_file": str(tmp_path / "algo-token.json"),
                    "token_api_keys": [ALGO_KEY],
                },
                {
                    "name": "hedge",
                    "client_id": "hedge-app-key",
                    "client_secret": "hedge-app-secret",
                    "redirect_uri": callback,
                    "token_api_keys": [HEDGE_KEY],
                },
            ]
            for app in apps:
                registered = {k: app[k] for k in ("client_id", "client_secret", "redirect_uri")}
                httpx.post(
                    f"{emulator.base_url}/_emulator/apps",
                    json={**registered, "notifier_url": notifier},
                    timeout=5,
                ).raise_for_status()
            values = {
                **env,
                "UPSTOX_REDIRECT_URI": callback,
                "UPSTOX_TRADING_APPS": json.dumps(apps),
                "TOKEN_FILE": str(tmp_path / "default-token.json"),
                "TOKEN_API_KEYS": TOKEN_API_KEY,
            }
            values.update({k.upper(): v for k, v in overrides.items()})
            return settings_from_env(values)

        bot = InProcessBot.with_bound_port(settings_for, clock=clock).start()
        started.append(bot)
        return bot

    yield make
    for bot in reversed(started):
        bot.stop()


def app_token(bot: InProcessBot, app: str) -> str | None:
    tokens = bot.services.delivery.tokens_of(bot.services.delivery.apps[app])
    try:
        return bot.run(tokens.usable()).secret.get_secret_value()
    except NotLoggedIn:
        return None


def fetch(http: httpx.Client, bot: InProcessBot, app: str, key: str) -> httpx.Response:
    return http.get(f"{bot.base_url}/token/{app}", headers={"Authorization": f"Bearer {key}"})


def profile_works(http: httpx.Client, emulator: EmulatorServer, token: str) -> bool:
    answer = http.get(
        f"{emulator.base_url}/v2/user/profile", headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code == 200


def alert_links(alert: SlackCall) -> dict[str, str]:
    """The alert's login buttons by the app's client id (the `client_id` of the URL)."""
    urls = [b["url"] for b in buttons(alert.params) if b.get("action_id") == LOGIN_ACTION_ID]
    return {query(url)["client_id"]: url for url in urls}


def handovers(fake_slack: FakeSlack, app: str) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage") + fake_slack.calls_to("chat.update")
        if f"Token hand-over for app {app} " in c.text_blob()
    ]


def test_after_a_change_every_app_logs_in_and_gets_its_own_token_to_its_own_sinks(
    make_apps_bot: MakeAppsBot,
    tmp_path: Path,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    upstox_token: str,
) -> None:
    bot = make_apps_bot()
    # Before the change the trading app is logged in too (its own login link).
    before = slash(http, bot, fake_slack, "login algo", key="login-algo")
    assert "for app algo" in before.text_blob()
    assert http.get(login_url(before), follow_redirects=True).status_code == 200
    algo_before = app_token(bot, "algo")
    assert algo_before is not None and profile_works(http, emulator, algo_before)
    assert emulator.state.tokens[algo_before].client_id == "algo-app-key"
    assert stored_token(bot) == upstox_token  # the bot's own token is untouched

    # The IPs change: every app's token dies at Upstox, and the bot records every app dead.
    request = request_change(http, bot, fake_slack)
    click(http, bot.base_url, fake_slack, request.id, user_id="UAPPROVER1")
    wait_state(bot, request.id, RequestState.APPLIED)
    assert not profile_works(http, emulator, upstox_token)
    assert not profile_works(http, emulator, algo_before)
    assert app_token(bot, "algo") is None and stored_token(bot) is None
    assert fetch(http, bot, "algo", ALGO_KEY).status_code == 503
    assert fetch(http, bot, "default", TOKEN_API_KEY).status_code == 503

    # One alert, with a login button for every app.
    [alert] = fake_slack.wait_for(lambda _: dead_alerts(fake_slack), timeout=5)
    links = alert_links(alert)
    assert set(links) == {emulator.state.config.client_id, "algo-app-key", "hedge-app-key"}
    assert "Every app needs a new login: default, algo, hedge" in alert.text_blob()

    # Each app logs in through its own button.
    for client_id in (emulator.state.config.client_id, "algo-app-key", "hedge-app-key"):
        assert http.get(links[client_id], follow_redirects=True).status_code == 200
    bot.run(bot.services.delivery.idle())
    tokens = {app: app_token(bot, app) for app in ("default", "algo", "hedge")}
    assert None not in tokens.values() and len(set(tokens.values())) == 3
    assert tokens["default"] == stored_token(bot)  # the IP API's token is the own app's
    for app, client_id in (("algo", "algo-app-key"), ("hedge", "hedge-app-key")):
        assert emulator.state.tokens[str(tokens[app])].client_id == client_id

    # Each app's sinks have its own token: the file (content, mode) and GET /token/<app>.
    for app in ("default", "algo"):
        path = tmp_path / f"{app}-token.json"
        written = json.loads(path.read_text())
        assert written["access_token"] == tokens[app]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert written["client_id"] == "algo-app-key"
    served = {}
    for app, key in (("default", TOKEN_API_KEY), ("algo", ALGO_KEY), ("hedge", HEDGE_KEY)):
        answer = fetch(http, bot, app, key)
        assert answer.status_code == 200
        served[app] = answer.json()["access_token"]
    assert served == tokens
    # One app's key opens only that app's token.
    wrong = fetch(http, bot, "algo", HEDGE_KEY)
    assert wrong.status_code == 401 and wrong.content == b""
    assert all(profile_works(http, emulator, str(t)) for t in served.values())

    # Each app's hand-over is in the approval card's thread and reads "trading can resume".
    card_ts = bot.run(bot.services.db.requests.get(request.id)).card_ts  # type: ignore[union-attr]
    for app in ("default", "algo", "hedge"):
        messages = fake_slack.wait_for(
            lambda _, app=app: [  # type: ignore[misc]
                m for m in handovers(fake_slack, app) if "Trading can resume" in m.text_blob()
            ],
            timeout=5,
        )
        posts = [m for m in handovers(fake_slack, app) if m.method == "chat.postMessage"]
        after_change = [p for p in posts if p.params.get("thread_ts") == card_ts]
        assert len(after_change) == 1, app
        story = str(messages[-1].params["text"]).split("\n")
        assert story[0].startswith(":arrows_counterclockwise: IPs changed")
        assert story[-1] == ":white_check_mark: Trading can resume."
    assert any(
        "Logged in to Upstox as EMU001 for app hedge (through the alert's login link)"
        in c.text_blob()
        for c in fake_slack.calls_to("chat.postMessage")
    )


def test_a_login_link_for_one_app_can_only_store_that_apps_token(
    make_apps_bot: MakeAppsBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    upstox_token: str,
) -> None:
    bot = make_apps_bot()
    link = bot.run(bot.services.links.login_link("UREQUESTER", app="algo"))
    assert query(link.url)["client_id"] == "algo-app-key"
    callback = upstox_redirect(http, link.url)
    state = query(callback)["state"]
    nonce, user, app, mac = state.split(".")
    assert app == "algo"

    # The state rewritten for another app (or for the bot's own) is refused, unexchanged.
    for forged in (f"{nonce}.{user}.hedge.{mac}", f"{nonce}.{user}.{mac}"):
        page = http.get(with_query(callback, state=forged))
        assert page.status_code == 400 and "not valid" in page.text
    assert exchanges(emulator) == 0

    # With a code Upstox issued to another app (hedge), algo's state stores nothing: the
    # code is exchanged with algo's key and secret, and Upstox refuses it.
    hedge_link = bot.run(bot.services.links.login_link("UREQUESTER", app="hedge"))
    hedge_code = query(upstox_redirect(http, hedge_link.url))["code"]
    mixed = http.get(with_query(callback, code=hedge_code))
    assert mixed.status_code == 502 and "refused the login code" in mixed.text
    assert app_token(bot, "hedge") is None and app_token(bot, "algo") is None
    assert stored_token(bot) == upstox_token

    # A fresh algo link redeemed as minted stores algo's token, and only algo's.
    link = bot.run(bot.services.links.login_link("UREQUESTER", app="algo"))
    callback = upstox_redirect(http, link.url)
    assert http.get(callback).status_code == 200
    algo = app_token(bot, "algo")
    assert algo is not None and emulator.state.tokens[algo].client_id == "algo-app-key"
    assert stored_token(bot) == upstox_token
    assert app_token(bot, "hedge") is None
    # It worked once; the same link again changes nothing.
    again = http.get(callback)
    assert again.status_code == 400 and "already used" in again.text
    assert app_token(bot, "algo") == algo


def test_login_phone_asks_every_app_and_each_token_is_routed_by_its_client_id(
    make_apps_bot: MakeAppsBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    upstox_token: str,
) -> None:
    bot = make_apps_bot()
    answer = slash(http, bot, fake_slack, "login phone", key="phone").text_blob()
    assert "every app" in answer
    for app in ("default", "algo", "hedge"):
        assert f"• {app}: open until" in answer
    assert len(emulator.state.calls_to(TOKEN_REQUEST)) == 3

    # Approving hedge's request stores hedge's token only.
    approved = http.post(
        f"{emulator.base_url}/_emulator/token-requests/approve",
        params={"client_id": "hedge-app-key"},
    ).json()
    assert approved["delivered"] is True and approved["notifier_status"] == 200
    hedge = approved["payload"]["access_token"]
    assert app_token(bot, "hedge") == hedge
    assert app_token(bot, "algo") is None and stored_token(bot) == upstox_token
    assert fetch(http, bot, "hedge", HEDGE_KEY).json()["access_token"] == hedge

    approved = http.post(
        f"{emulator.base_url}/_emulator/token-requests/approve",
        params={"client_id": "algo-app-key"},
    ).json()
    assert approved["notifier_status"] == 200
    assert app_token(bot, "algo") == approved["payload"]["access_token"] != hedge


def test_an_unknown_app_is_named_and_nothing_is_sent_to_upstox(
    make_apps_bot: MakeAppsBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = make_apps_bot()
    answer = slash(http, bot, fake_slack, "login nosuch", key="nosuch").text_blob()
    assert "Unknown option `nosuch`" in answer and "/staticip login <app>" in answer
    assert fetch(http, bot, "nosuch", ALGO_KEY).status_code == 401
    assert emulator.state.calls_to(TOKEN_REQUEST) == []


def test_status_and_the_app_home_show_each_apps_token_and_deliveries(
    make_apps_bot: MakeAppsBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot = make_apps_bot()
    link = bot.run(bot.services.links.login_link("UREQUESTER", app="algo"))
    assert http.get(link.url, follow_redirects=True).status_code == 200
    assert fetch(http, bot, "algo", ALGO_KEY).status_code == 200

    status = slash(http, bot, fake_slack, "status", key="status").text_blob()
    assert "Upstox app algo: logged in, valid until" in status
    assert "Token delivery (algo): file: written" in status
    assert "GET /token: last fetched by key" in status
    assert "Upstox app hedge: no token yet. Token delivery (hedge): GET /token: not fetched" in (
        status
    )

    open_home(http, bot, user="UVIEWER9")
    view = fake_slack.wait_for_call(
        "views.publish", lambda c: c.params.get("user_id") == "UVIEWER9"
    ).params["view"]
    home = json.dumps(view)
    assert "Upstox app algo: logged in, valid until" in home
    assert "Upstox app hedge: no token yet" in home
    assert ALGO_KEY not in home and HEDGE_KEY not in home


def test_the_morning_request_asks_every_app_once_and_each_approval_reaches_its_sinks(
    make_apps_bot: MakeAppsBot,
    tmp_path: Path,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    clock: MutableClock,
) -> None:
    set_clocks(clock, emulator, TUESDAY_EVENING)
    bot = make_apps_bot()
    set_clocks(clock, emulator, WEDNESDAY_0830)
    run_job(bot)
    run_job(bot)
    assert len(emulator.state.calls_to(TOKEN_REQUEST)) == 3  # once, for every app
    [message] = morning_posts(fake_slack)
    for app in ("default", "algo", "hedge"):
        assert f"• {app}: approve on the phone" in message.text_blob()

    for client_id in (emulator.state.config.client_id, "algo-app-key", "hedge-app-key"):
        approved = http.post(
            f"{emulator.base_url}/_emulator/token-requests/approve",
            params={"client_id": client_id},
        ).json()
        assert approved["notifier_status"] == 200, approved
    tokens = {app: app_token(bot, app) for app in ("default", "algo", "hedge")}
    assert None not in tokens.values() and len(set(tokens.values())) == 3
    written = json.loads((tmp_path / "algo-token.json").read_text())
    assert written["access_token"] == tokens["algo"]
    assert fetch(http, bot, "hedge", HEDGE_KEY).json()["access_token"] == tokens["hedge"]
    # Each app's hand-over is in the morning message's thread.
    [remembered] = bot.run(
        bot.services.db.deliveries.history(
            bot.services.settings.account, "default", sink="channel", outcome="morning"
        )
    )
    for app in ("default", "algo", "hedge"):
        [post] = [m for m in handovers(fake_slack, app) if m.method == "chat.postMessage"]
        assert post.params["thread_ts"] == remembered.detail
        assert str(post.params["text"]).startswith(":sunrise:")

    # Saturday: no trading, no request for any app.
    set_clocks(clock, emulator, SATURDAY_0830)
    run_job(bot)
    assert len(emulator.state.calls_to(TOKEN_REQUEST)) == 3
