"""The insider who re-binds the bot to their own Upstox user (issue 16, item 3).

A workspace member runs `/staticip login phone`, then POSTs their own valid token for our
client id to /upstox/notifier. Refused: the login itself is limited to requesters and
approvers, and a token of another Upstox user is refused both with UPSTOX_USER_ID set and
after the bot was seeded from UPSTOX_ACCESS_TOKEN (whose user is learnt from Upstox).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.config import SettingsError, load_settings
from bot.home.blocks import LOGIN_ACTION
from bot.upstox.emulator import EmulatorServer, Fault
from tests.login.helpers import PROFILE, TOKEN_REQUEST, login_url, stored_token, upstox_redirect
from tests.support.bot_runner import InProcessBot, bot_env, wait_until
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import block_actions_body, post_signed

MakeBot = Callable[..., InProcessBot]
INSIDER = "UINSIDER"
REFUSED = "Only the requesters and approvers"


def insiders_token(emulator: EmulatorServer) -> str:
    """A valid token of the insider's own Upstox user, for our client id."""
    record = emulator.state.issue_token(source="token_request")
    record.user_id = "INSIDER9"  # the emulator's profile answers the token's own user
    return record.value


def notify(http: httpx.Client, bot: InProcessBot, token: str, user_id: str) -> httpx.Response:
    payload = {
        "client_id": "emulator-api-key",
        "user_id": user_id,
        "access_token": token,
        "token_type": "Bearer",
        "expires_at": "1731448800000",
        "issued_at": "1731412800000",
        "message_type": "access_token",
    }
    return http.post(f"{bot.base_url}/upstox/notifier", json=payload)


def home_login_click(
    http: httpx.Client, bot: InProcessBot, fake_slack: FakeSlack, user_id: str
) -> str:
    before = len(fake_slack.calls_to("views.open"))
    body = block_actions_body(LOGIN_ACTION, "", user_id=user_id, block_id="home")
    assert post_signed(http, bot.base_url, body).status_code == 200
    fake_slack.wait_for(lambda _: len(fake_slack.calls_to("views.open")) > before)
    return fake_slack.calls_to("views.open")[-1].text_blob()


def test_a_non_requester_cannot_start_any_login(
    make_bot: MakeBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    fake_slack.usergroups["SAPPROVERS"] = ["UAPPROVER3"]
    bot = make_bot(SLACK_REQUESTERS="UREQUESTER")

    phone = slash(http, bot.base_url, fake_slack, "login phone", user_id=INSIDER)
    assert REFUSED in phone.params["text"]
    assert emulator.state.calls_to(TOKEN_REQUEST) == []
    link = slash(http, bot.base_url, fake_slack, "login", user_id=INSIDER)
    assert REFUSED in link.params["text"] and "http" not in link.params["text"]
    home = home_login_click(http, bot, fake_slack, INSIDER)
    assert REFUSED in home and "/v2/login/authorization/dialog" not in home

    # Requesters and approvers may.
    for user in ("UREQUESTER", "UAPPROVER1", "UAPPROVER3"):
        assert (
            REFUSED not in slash(http, bot.base_url, fake_slack, "login", user_id=user).text_blob()
        )
        assert REFUSED not in home_login_click(http, bot, fake_slack, user)
    assert "Approve it on your phone" in str(
        slash(http, bot.base_url, fake_slack, "login phone", user_id="UAPPROVER1").params["text"]
    )


def test_without_slack_requesters_anyone_may_log_in(
    make_bot: MakeBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    answer = slash(http, bot.base_url, fake_slack, "login", user_id=INSIDER)
    assert REFUSED not in answer.text_blob()
    assert "/v2/login/authorization/dialog" in answer.text_blob()


def test_after_seeding_another_users_token_is_refused(
    make_bot: MakeBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    upstox_token: str,
) -> None:
    # Anyone may request (and so log in); the bot was seeded with the owner's token, and
    # UPSTOX_USER_ID is not set.
    bot = make_bot(UPSTOX_USER_ID="")
    slash(http, bot.base_url, fake_slack, "login phone", user_id=INSIDER)
    assert len(emulator.state.calls_to(TOKEN_REQUEST)) == 1

    answer = notify(http, bot, insiders_token(emulator), "INSIDER9")

    assert answer.status_code == 403, answer.text
    assert "this bot manages EMU001" in answer.json()["reason"]
    assert stored_token(bot) == upstox_token
    # The seeded token's user was learnt from Upstox and recorded.
    status = bot.run(bot.services.tokens.status())
    assert status.user_id == "EMU001"


def test_the_seeded_user_is_learnt_at_start_up_or_at_the_first_answer(
    make_bot: MakeBot, emulator: EmulatorServer, http: httpx.Client
) -> None:
    # Upstox does not answer the profile call at start-up...
    emulator.state.add_fault(Fault(route=PROFILE, status=503, count=100))
    bot = make_bot(UPSTOX_USER_ID="")
    wait_until(lambda: bot.services.scheduler.runs("upstox_user") >= 1, timeout=10)
    assert bot.run(bot.services.tokens.status()).user_id is None
    # ...and does at the next try.
    emulator.state.clear_faults()
    assert bot.run(bot.services.scheduler.run_now("upstox_user"))
    assert bot.run(bot.services.tokens.status()).user_id == "EMU001"


@pytest.mark.parametrize("via", ["notifier", "callback"])
def test_with_upstox_user_id_set_every_other_user_is_refused(
    make_bot: MakeBot,
    env: dict[str, str],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    via: str,
) -> None:
    # Nothing stored yet (no seed): only UPSTOX_USER_ID says who the bot manages.
    bot = make_bot(UPSTOX_ACCESS_TOKEN="", UPSTOX_USER_ID="OWNER01")
    assert stored_token(bot) is None
    if via == "notifier":
        slash(http, bot.base_url, fake_slack, "login phone", user_id="UREQUESTER")
        answer = notify(http, bot, insiders_token(emulator), "INSIDER9")
        assert answer.status_code == 403, answer.text
        assert "this bot manages OWNER01" in answer.json()["reason"]
    else:
        # The Upstox login dialog logs in the emulator's user, EMU001.
        link = login_url(slash(http, bot.base_url, fake_slack, "login", user_id="UREQUESTER"))
        page = http.get(upstox_redirect(http, link))
        assert page.status_code == 403
        assert "this bot manages OWNER01" in page.text
    assert stored_token(bot) is None


@pytest.mark.parametrize("value", ["AB 1234", "<!channel>", "x" * 65])
def test_a_malformed_upstox_user_id_is_a_config_error(value: str) -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
        upstox_user_id=value,
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()})
    assert [p for p in raised.value.problems if "UPSTOX_USER_ID" in p.upper()]


def test_an_empty_upstox_user_id_means_unset() -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
        upstox_user_id=" ",
    )
    assert (
        load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()}).upstox_user_id
        is None
    )
