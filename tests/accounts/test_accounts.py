"""Several accounts in one bot: each account's approvers, window, tokens, history and alerts
are its own, and a command names the account (or is answered for all, or asks which)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlencode

import httpx

from bot.store.request_states import RequestState
from bot.upstox.emulator.state import Fault
from tests.accounts.conftest import (
    DESK_KEY,
    FAMILY_CHANNEL,
    FAMILY_KEY,
    OLD_FAMILY_IP,
    OLD_PROP_IP,
    PROP_KEY,
    Accounts,
)
from tests.home.test_app_home import open_home, publishes, view_of
from tests.login.helpers import login_url, query, upstox_redirect, with_query
from tests.requests.helpers import PUT, click_older
from tests.requests.test_card_and_form import view_submission
from tests.support.bot_runner import UPSTOX_CLIENT_ID, InProcessBot, wait_until
from tests.support.conversation import buttons, new_key, slash
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.slack_requests import block_actions_body, post_signed, slash_command_body

S = RequestState
NEW_IP = "8.8.8.8"


def ask(http: httpx.Client, bot: InProcessBot, fake_slack: FakeSlack, text: str, **kw: str) -> str:
    return str(slash(http, bot.base_url, fake_slack, text, **kw).params["text"])


def open_request(bot: InProcessBot, name: str):  # type: ignore[no-untyped-def]
    account = bot.services.account(name)
    request = bot.run(account.requests.open_request())
    assert request is not None, name
    return request


def click(
    http: httpx.Client, fake_slack: FakeSlack, bot: InProcessBot, value: str, user: str
) -> str:
    key = new_key("click")
    body = block_actions_body(
        "request_approve", value, user_id=user, response_url=fake_slack.response_url(key)
    )
    assert post_signed(http, bot.base_url, body).status_code == 200
    return key


def told(fake_slack: FakeSlack, key: str) -> str:
    return str(fake_slack.wait_for_response(key).params["text"])


def posts_in(fake_slack: FakeSlack, channel: str, containing: str) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if c.params.get("channel") == channel and containing in c.text_blob()
    ]


def test_an_approver_of_one_account_cannot_approve_another(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    answer = ask(http, bot, fake_slack, f"set family {NEW_IP} family router moved")
    assert "is posted for approval" in answer
    request = open_request(bot, "family")
    # The card went to family's own channel, and names the account.
    [card] = posts_in(fake_slack, FAMILY_CHANNEL, request.id)
    assert card.params["text"].startswith("[family] ") and "Account `family`" in card.text_blob()

    refused = told(fake_slack, click(http, fake_slack, bot, request.id, "UDESK"))
    assert "Only approvers" in refused and "Nothing was changed" in refused
    assert emulator.state.calls_to(PUT) == []
    assert bot.run(bot.services.db.requests.get(request.id)).state is S.PENDING  # type: ignore[union-attr]

    click(http, fake_slack, bot, request.id, "UFAMILY")
    wait_until(lambda: bot.run(bot.services.db.requests.get(request.id)).state is S.APPLIED)  # type: ignore[union-attr]
    [put] = emulator.state.calls_to(PUT)
    assert put.user_id == "EMU002"
    assert emulator.state.user("EMU002").ips.primary_ip == NEW_IP
    # Nobody else's IPs moved, and only family's token died with the change.
    assert emulator.state.user("EMU001").ips.primary_ip != NEW_IP
    assert emulator.state.user("EMU003").ips.primary_ip == OLD_PROP_IP
    assert bot.run(bot.services.account("family").tokens.status()).health == "invalidated"
    assert bot.run(bot.services.account("desk").tokens.status()).health == "valid"
    # Family's logout alert is family's own, in family's channel.
    fake_slack.wait_for(lambda _: posts_in(fake_slack, FAMILY_CHANNEL, "logged out"))
    assert not [p for p in posts_in(fake_slack, "CAPPROVALS", "logged out")]


def test_each_accounts_window_is_its_own(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack, clock
) -> None:  # type: ignore[no-untyped-def]
    bot, emulator = accounts.bot, accounts.emulator
    # prop changed an hour ago: its week is used up; family's is not.
    emulator.state.set_ips(
        OLD_PROP_IP, None, primary_ip_updated_at=clock() - timedelta(hours=1), user_id="EMU003"
    )
    refused = ask(http, bot, fake_slack, f"set prop {NEW_IP} new host")
    assert "weekly change window is closed" in refused and "Nothing was requested" in refused
    assert bot.run(bot.services.account("prop").requests.open_request()) is None
    assert "is posted for approval" in ask(http, bot, fake_slack, f"set family {NEW_IP} new host")
    # One open request per account: family's does not block desk's.
    assert "is posted for approval" in ask(http, bot, fake_slack, f"set desk {NEW_IP} new host")
    assert emulator.state.calls_to(PUT) == []


def test_commands_name_the_account_or_cover_all_or_ask_which(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    summary = slash(http, bot.base_url, fake_slack, "show")
    blob = summary.text_blob()
    for name in ("desk", "family", "prop"):
        assert f"`{name}`" in blob
    assert OLD_FAMILY_IP in blob and OLD_PROP_IP in blob

    one = slash(http, bot.base_url, fake_slack, "show family").text_blob()
    assert OLD_FAMILY_IP in one and OLD_PROP_IP not in one

    unknown = ask(http, bot, fake_slack, "show famly")
    assert "There is no account `famly`" in unknown and "`desk`, `family`, `prop`" in unknown

    # An IP is never read as an account: with several, `set <ip>` asks which account.
    which = ask(http, bot, fake_slack, f"set {NEW_IP} moved")
    assert "Which account?" in which and "`desk`, `family`, `prop`" in which
    assert "There is no account" not in which
    typo = ask(http, bot, fake_slack, f"set famliy {NEW_IP} moved")
    assert "There is no account `famliy`" in typo and "Nothing was requested" in typo

    status = slash(http, bot.base_url, fake_slack, "status").text_blob()
    assert all(f"`{n}`" in status for n in ("desk", "family", "prop"))
    assert "Which account?" in ask(http, bot, fake_slack, "history 2")
    assert emulator.state.calls_to(PUT) == []
    for name in ("desk", "family", "prop"):
        assert bot.run(bot.services.account(name).requests.open_request()) is None


def test_history_is_per_account(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot = accounts.bot
    assert "is posted for approval" in ask(http, bot, fake_slack, f"set family {NEW_IP} because")
    family_id = open_request(bot, "family").id
    family = slash(http, bot.base_url, fake_slack, "history family").text_blob()
    desk = slash(http, bot.base_url, fake_slack, "history desk").text_blob()
    assert family_id in family and family_id not in desk

    # Enough of family's events for a second page: its Older button names the account.
    family_key = bot.services.account("family").account.key
    desk_key = bot.services.account("desk").account.key
    bot.run(bot.services.db.audit.append(desk_key, "alert", "bot"))
    for n in range(10):
        bot.run(bot.services.db.audit.append(family_key, "alert", "bot", details={"n": n}))
    answer = slash(http, bot.base_url, fake_slack, "history family")
    [older] = buttons(answer.params)
    assert older["value"].startswith("family:")
    shown = click_older(http, bot.base_url, fake_slack, older["value"])
    assert shown.params["replace_original"] is True
    assert "History of family — page 2" in shown.text_blob() and family_id in shown.text_blob()
    # Family's cursor with desk's name (desk has an event below it) reads nothing.
    refused = click_older(http, bot.base_url, fake_slack, "desk:" + older["value"][7:])
    assert "not this account's" in refused.params["text"]
    assert refused.params.get("replace_original") is False
    # With several accounts a cursor must name one.
    unnamed = click_older(http, bot.base_url, fake_slack, older["value"][6:])
    assert "no such account" in unnamed.params["text"]


def test_a_login_link_for_one_account_never_stores_a_token_for_another(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    desk_before = bot.run(bot.services.account("desk").tokens.status())
    family_before = bot.run(bot.services.account("family").tokens.status())
    desk_link = login_url(slash(http, bot.base_url, fake_slack, "login desk", user_id="UDESK"))
    family_link = login_url(
        slash(http, bot.base_url, fake_slack, "login family", user_id="UFAMILY")
    )
    assert query(desk_link)["client_id"] != query(family_link)["client_id"]
    # Family's user logs in, but the browser comes back with desk's state.
    family_callback = upstox_redirect(http, family_link)
    desk_state = query(upstox_redirect(http, desk_link))["state"]
    forged = with_query(family_callback, state=desk_state)
    page = http.get(forged.replace("http://127.0.0.1:3000", bot.base_url))
    # The state is desk's, so desk's login handles it: Upstox will not give desk's app a
    # token for a code issued to family's app, and nothing is stored for either.
    assert page.status_code == 502 and "Upstox refused the login code" in page.text
    desk_after = bot.run(bot.services.account("desk").tokens.status())
    family_after = bot.run(bot.services.account("family").tokens.status())
    assert desk_after.obtained_at == desk_before.obtained_at and desk_after.user_id != "EMU002"
    assert family_after.obtained_at == family_before.obtained_at
    assert emulator.state.user("EMU002") is not None


def test_a_login_as_another_accounts_user_is_refused(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    """`prop` is pinned to EMU003. Its link is opened and the family user (EMU002) types
    their own credentials into Upstox's dialog: refused, and prop keeps its token."""
    bot, emulator = accounts.bot, accounts.emulator
    before = bot.run(bot.services.account("prop").tokens.status())
    link = login_url(slash(http, bot.base_url, fake_slack, "login prop", user_id="UBOTH"))
    prop_client = query(link)["client_id"]
    answer = http.post(
        f"{emulator.base_url}/_emulator/login-as",
        json={"client_id": prop_client, "user_id": "EMU002"},
    )
    assert answer.status_code == 200, answer.text
    callback = upstox_redirect(http, link)
    page = http.get(callback.replace("http://127.0.0.1:3000", bot.base_url))
    assert page.status_code >= 400 and "Nothing was changed" in page.text
    assert "You logged in to Upstox as EMU002, but this bot manages EMU003" in page.text
    after = bot.run(bot.services.account("prop").tokens.status())
    assert after.obtained_at == before.obtained_at and after.user_id in (None, "EMU003")
    assert emulator.state.calls_to(PUT) == []


def test_alerts_are_per_account(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    """Family's token dies: one alert, in family's channel, naming family; desk stays quiet."""
    bot, emulator = accounts.bot, accounts.emulator
    for token in list(emulator.state.tokens.values()):
        if token.user_id == "EMU002":
            emulator.state.revoke(token)
    bot.run(bot.services.scheduler.run_now("token_check"))
    [alert] = fake_slack.wait_for(lambda _: posts_in(fake_slack, FAMILY_CHANNEL, "logged out"))
    assert alert.params["text"].startswith("[family] ")
    bot.run(bot.services.scheduler.run_now("token_check"))  # deduplicated per account
    assert len(posts_in(fake_slack, FAMILY_CHANNEL, "logged out")) == 1
    assert posts_in(fake_slack, "CAPPROVALS", "logged out") == []
    active = bot.run(bot.services.account("family").alerts.active())
    assert active and not bot.run(bot.services.account("desk").alerts.active())


def test_the_app_home_has_a_part_per_account_and_its_buttons_name_it(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    open_home(http, accounts.bot, user="UBOTH")
    [published] = fake_slack.wait_for(lambda _: publishes(fake_slack, "UBOTH"))
    view = view_of(published)
    text = "\n".join(
        b["text"]["text"] for b in view["blocks"] if b.get("type") == "section" and "text" in b
    )
    for name in ("desk", "family", "prop"):
        assert f"*Account `{name}`*" in text
    assert OLD_FAMILY_IP in text and OLD_PROP_IP in text
    values = [
        (e["action_id"], e["value"])
        for b in view["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
    ]
    assert ("home_login", "family") in values and ("home_request_change", "prop") in values
    assert len(view["blocks"]) <= 100


def test_help_explains_accounts_and_host_moves(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    key = new_key("help")
    body = slash_command_body(
        "help", user_id="UREQUESTER", response_url=fake_slack.response_url(key)
    )
    answer = post_signed(http, accounts.bot.base_url, body)
    assert "`desk`, `family`, `prop`" in answer.json()["text"]
    assert "/staticip set all" in answer.json()["text"]


def test_the_form_asks_for_the_account_and_files_the_request_under_it(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    body = slash_command_body("set", response_url=fake_slack.response_url("form"))
    assert post_signed(http, bot.base_url, body).status_code == 200
    view = fake_slack.wait_for_call("views.open").params["view"]
    [picker] = [b for b in view["blocks"] if b.get("block_id") == "account"]
    assert [o["value"] for o in picker["element"]["options"]] == ["desk", "family", "prop"]

    fields = {"primary": NEW_IP, "secondary": "", "reason": "new VPS", "apply_at": ""}
    unpicked = post_signed(http, bot.base_url, view_submission(fields)).json()
    assert unpicked["response_action"] == "errors" and "account" in unpicked["errors"]
    assert bot.run(bot.services.db.requests.list_open()) == []

    raw = view_submission(fields)
    payload = json.loads(parse_qs(raw)["payload"][0])
    payload["view"]["state"]["values"]["account"] = {
        "value": {"type": "static_select", "selected_option": {"value": "prop"}}
    }
    answer = post_signed(http, bot.base_url, urlencode({"payload": json.dumps(payload)}))
    assert answer.json()["response_action"] == "update"
    fake_slack.wait_for_call("views.update")
    request = open_request(bot, "prop")
    assert request.proposed_primary == NEW_IP
    assert bot.run(bot.services.account("desk").requests.open_request()) is None
    assert emulator.state.calls_to(PUT) == []


def test_each_accounts_token_goes_to_its_own_trading_system_only(
    accounts: Accounts, http: httpx.Client
) -> None:
    bot = accounts.bot

    def fetch(path: str, key: str) -> httpx.Response:
        return http.get(f"{bot.base_url}{path}", headers={"Authorization": f"Bearer {key}"})

    family = fetch("/token/family", FAMILY_KEY)
    assert family.status_code == 200 and family.json()["client_id"] == accounts.family.client_id
    assert family.json()["access_token"] == accounts.family.access_token
    assert fetch("/token/family/default", FAMILY_KEY).json() == family.json()
    prop = fetch("/token/prop", PROP_KEY)
    assert prop.json()["access_token"] == accounts.prop.access_token
    # A key opens its own account's token only, and an unknown account says nothing.
    for path, key in (
        ("/token/family", DESK_KEY),
        ("/token/desk", FAMILY_KEY),
        ("/token/nosuch/default", FAMILY_KEY),
    ):
        refused = fetch(path, key)
        assert refused.status_code == 401 and refused.content == b""
    assert fetch("/token", DESK_KEY).json()["client_id"] == UPSTOX_CLIENT_ID


def test_one_accounts_upstox_outage_never_stops_the_others_checks(
    accounts: Accounts, fake_slack: FakeSlack
) -> None:
    """Desk's Upstox answers 503 to the token check; family's and prop's sessions are over:
    both get their alert in the same run, and the run is reported failed (for backoff)."""
    bot, emulator = accounts.bot, accounts.emulator
    emulator.state.add_fault(
        Fault(route="GET /v2/user/profile", status=503, count=5, user_id="EMU001")
    )
    for token in list(emulator.state.tokens.values()):
        if token.user_id in ("EMU002", "EMU003"):
            emulator.state.revoke(token)
    assert bot.run(bot.services.scheduler.run_now("token_check")) is False
    fake_slack.wait_for(lambda _: posts_in(fake_slack, FAMILY_CHANNEL, "Upstox is logged out"))
    fake_slack.wait_for(
        lambda _: [
            p
            for p in posts_in(fake_slack, "CAPPROVALS", "Upstox is logged out")
            if p.params["text"].startswith("[prop]")
        ]
    )
    assert bot.run(bot.services.account("desk").tokens.status()).health == "valid"
    assert not [
        p
        for p in posts_in(fake_slack, "CAPPROVALS", "Upstox is logged out")
        if p.params["text"].startswith("[desk]")
    ]


def test_a_hostile_account_name_is_shown_inert_and_changes_nothing(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    for text in ("show <!channel>", "set <@U123|x> 8.8.8.8 r", "history `x`<!here>", "login &lt;"):
        answer = ask(http, bot, fake_slack, text)
        assert "<!channel>" not in answer and "<!here>" not in answer and "<@U123" not in answer
        assert "There is no account" in answer or "Which account?" in answer, answer
    assert emulator.state.calls_to(PUT) == []
    assert bot.run(bot.services.db.requests.list_open()) == []
