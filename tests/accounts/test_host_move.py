"""Moving a host: one request for several accounts, one card, one approval, one PUT per
account that can move — and an account refused never stops the others."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from bot.requests.blocks import MOVE_APPROVE_ACTION, MOVE_REJECT_ACTION
from bot.store.models import ChangeRequest
from bot.store.request_states import RequestState
from tests.accounts.conftest import FAMILY_CHANNEL, OLD_PROP_IP, Accounts
from tests.login.helpers import login_url, upstox_redirect
from tests.requests.helpers import PUT
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.clock import MutableClock
from tests.support.conversation import buttons, new_key, slash
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.slack_requests import block_actions_body, post_signed

S = RequestState
NEW_IP = "8.8.8.8"
MOVE_ID = re.compile(r"Host move `?(m-[a-z0-9]+)")


def move(http: httpx.Client, bot: InProcessBot, fake_slack: FakeSlack, text: str) -> str:
    """`/staticip set <text>` as UREQUESTER; the move's id from the answer."""
    answer = str(slash(http, bot.base_url, fake_slack, f"set {text}").params["text"])
    found = MOVE_ID.search(answer)
    assert found, answer
    return found[1]


def parts(bot: InProcessBot, move_id: str) -> dict[str, ChangeRequest]:
    names = {a.account.key: a.name for a in bot.services.accounts}
    found = bot.run(bot.services.db.requests.in_move(move_id))
    return {names[p.account]: p for p in found}


def decide(
    http: httpx.Client,
    bot: InProcessBot,
    fake_slack: FakeSlack,
    move_id: str,
    user: str,
    *,
    approve: bool = True,
) -> str:
    """A click on the move card's button; the ephemeral answer."""
    key = new_key("move")
    action = MOVE_APPROVE_ACTION if approve else MOVE_REJECT_ACTION
    body = block_actions_body(
        action, move_id, user_id=user, response_url=fake_slack.response_url(key)
    )
    assert post_signed(http, bot.base_url, body).status_code == 200
    return str(fake_slack.wait_for_response(key, timeout=20).params["text"])


def card_posts(fake_slack: FakeSlack, move_id: str) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if str(c.params.get("text", "")).startswith(f"Host move {move_id}")
    ]


def card_text(call: SlackCall) -> str:
    """Every section's and context's text of a card, a line each."""
    texts = []
    for block in call.params.get("blocks") or []:
        if block.get("type") == "section":
            texts.append(block["text"]["text"])
        elif block.get("type") == "context":
            texts += [e.get("text", "") for e in block.get("elements", [])]
    return "\n".join(texts)


def last_card(fake_slack: FakeSlack, move_id: str) -> str:
    updates = [
        c
        for c in fake_slack.calls_to("chat.update")
        if str(c.params.get("text", "")).startswith(f"Host move {move_id}")
    ]
    return card_text(updates[-1] if updates else card_posts(fake_slack, move_id)[-1])


def row(card: str, name: str) -> str:
    [line] = [line for line in card.split("\n") if line.startswith(f"*`{name}`*")]
    return line


def posts_in(fake_slack: FakeSlack, channel: str, containing: str) -> list[SlackCall]:
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if c.params.get("channel") == channel and containing in c.text_blob()
    ]


def test_a_host_move_with_one_window_closed_moves_the_other_two_with_one_approval(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack, clock: MutableClock
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    emulator.state.set_ips(
        OLD_PROP_IP, None, primary_ip_updated_at=clock() - timedelta(hours=1), user_id="EMU003"
    )
    move_id = move(http, bot, fake_slack, f"all {NEW_IP} moving to the new colo")

    [card] = card_posts(fake_slack, move_id)
    assert card.params["channel"] == "CAPPROVALS"
    blob = card_text(card)
    assert "waiting for approval" in row(blob, "desk") and "waiting" in row(blob, "family")
    assert "refused" in row(blob, "prop") and "window is closed" in row(blob, "prop")
    assert [b["value"] for b in buttons(card.params)] == [move_id, move_id]
    assert set(parts(bot, move_id)) == {"desk", "family"}

    # Nobody decides a move they asked for, or one with an account they do not approve.
    own = decide(http, bot, fake_slack, move_id, "UREQUESTER")
    assert "someone else must decide" in own
    partial = decide(http, bot, fake_slack, move_id, "UDESK")
    assert "you do not approve `family`" in partial and "Nothing was changed" in partial
    assert emulator.state.calls_to(PUT) == []

    answer = decide(http, bot, fake_slack, move_id, "UBOTH")
    assert "`desk`: moved" in answer and "`family`: moved" in answer
    puts = emulator.state.calls_to(PUT)
    assert sorted(p.user_id for p in puts) == ["EMU001", "EMU002"]
    assert emulator.state.user("EMU001").ips.primary_ip == NEW_IP
    assert emulator.state.user("EMU002").ips.primary_ip == NEW_IP
    assert emulator.state.user("EMU003").ips.primary_ip == OLD_PROP_IP

    final = parts(bot, move_id)
    assert final["desk"].state is S.APPLIED and final["family"].state is S.APPLIED
    fake_slack.wait_for(lambda _: "moved" in row(last_card(fake_slack, move_id), "family"))
    card_now = last_card(fake_slack, move_id)
    assert "*moved*" in row(card_now, "desk") and "*moved*" in row(card_now, "family")
    assert "refused" in row(card_now, "prop") and "window is closed" in row(card_now, "prop")
    assert "Approve" not in card_now  # decided: no buttons

    # Each moved account: its own logout alert with its own login link, in its channel.
    fake_slack.wait_for(lambda _: posts_in(fake_slack, FAMILY_CHANNEL, "Upstox is logged out"))
    assert posts_in(fake_slack, "CAPPROVALS", "[prop]") == []
    for name, channel in (("desk", "CAPPROVALS"), ("family", FAMILY_CHANNEL)):
        [alert] = [
            p
            for p in posts_in(fake_slack, channel, "Upstox is logged out")
            if p.params["text"].startswith(f"[{name}]")
        ]
        callback = upstox_redirect(http, login_url(alert))
        page = http.get(callback.replace("http://127.0.0.1:3000", bot.base_url))
        assert page.status_code == 200, page.text
        status = bot.run(bot.services.account(name).tokens.status())
        assert status.health == "valid"
    # A late click changes nothing more.
    late = decide(http, bot, fake_slack, move_id, "UBOTH")
    assert "already decided" in late
    assert len(emulator.state.calls_to(PUT)) == 2


def test_an_account_refused_while_applying_never_stops_the_others(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack, clock: MutableClock
) -> None:
    """Family's IPs change at Upstox after the move was requested: its re-check refuses it
    (drift), and desk and prop move all the same."""
    bot, emulator = accounts.bot, accounts.emulator
    move_id = move(http, bot, fake_slack, f"desk,family,prop {NEW_IP} new colo")
    emulator.state.set_ips(
        "203.0.113.99", None, primary_ip_updated_at=clock() - timedelta(days=30), user_id="EMU002"
    )
    answer = decide(http, bot, fake_slack, move_id, "UBOTH")
    assert "`desk`: moved" in answer and "`prop`: moved" in answer
    assert "`family`: refused" in answer or "`family`: not applied" in answer
    assert sorted(p.user_id for p in emulator.state.calls_to(PUT)) == ["EMU001", "EMU003"]
    assert emulator.state.user("EMU002").ips.primary_ip == "203.0.113.99"
    final = parts(bot, move_id)
    assert final["family"].state is S.FAILED and final["family"].failure_reason
    wait_until(lambda: "refused" in row(last_card(fake_slack, move_id), "family"))
    card_now = last_card(fake_slack, move_id)
    assert "*moved*" in row(card_now, "desk") and "*moved*" in row(card_now, "prop")


def test_rejecting_a_move_rejects_every_account_and_sends_nothing(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    move_id = move(http, bot, fake_slack, f"all {NEW_IP} wrong host")
    answer = decide(http, bot, fake_slack, move_id, "UBOTH", approve=False)
    assert answer.count(": rejected") == 3
    assert {p.state for p in parts(bot, move_id).values()} == {S.REJECTED}
    assert emulator.state.calls_to(PUT) == []


def test_bad_move_input_is_refused_with_nothing_stored_or_sent(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    cases = {
        f"desk,famly {NEW_IP} typo": "Unknown account(s) `famly`",
        "all 999.1.1.1 bad ip": "999.1.1.1",
        f"all {NEW_IP}": "reason",
        f'all {NEW_IP} later --at "2030-01-01 16:00"': "`--at` works for one account",
    }
    for text, expected in cases.items():
        answer = str(slash(http, bot.base_url, fake_slack, f"set {text}").params["text"])
        assert expected in answer, (text, answer)
    assert emulator.state.calls_to(PUT) == []
    assert bot.run(bot.services.db.requests.list_open()) == []
    assert [
        c for c in fake_slack.calls_to("chat.postMessage") if "Host move" in c.text_blob()
    ] == []


def test_the_requester_can_cancel_a_waiting_move(
    accounts: Accounts, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    bot, emulator = accounts.bot, accounts.emulator
    move_id = move(http, bot, fake_slack, f"desk,prop {NEW_IP} wrong colo")
    answer = str(slash(http, bot.base_url, fake_slack, f"cancel {move_id}").params["text"])
    assert "`desk`: cancelled" in answer and "`prop`: cancelled" in answer
    assert {p.state for p in parts(bot, move_id).values()} == {S.CANCELLED}
    late = decide(http, bot, fake_slack, move_id, "UBOTH")
    assert "already decided" in late
    assert emulator.state.calls_to(PUT) == []
    updates = [
        c for c in fake_slack.calls_to("chat.update") if move_id in str(c.params.get("text"))
    ]
    assert updates and buttons(updates[-1].params) == []
