"""Text that comes from outside (Upstox's error messages, the IPs and the user id Upstox
answers) reaches the channel escaped: it can never become a mention, a link or a
`<!channel>`."""

from __future__ import annotations

import httpx

from bot.login.blocks import logged_in_text
from bot.login.service import LoginResult
from bot.store.models import TokenSource
from bot.upstox.emulator import EmulatorServer, Fault
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import click, request_change

HOSTILE = "<!channel> <https://evil.example|click here> & co"
ESCAPED = "&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp; co"


def channel_texts(fake_slack: FakeSlack) -> list[str]:
    return [
        c.text_blob() for c in fake_slack.calls if c.method in ("chat.postMessage", "chat.update")
    ]


def test_an_upstox_error_message_in_a_card_note_is_escaped(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request_id = request_change(http, bot.base_url, fake_slack)
    # The re-check before applying gets an error whose message is hostile.
    emulator.state.add_fault(
        Fault(route="GET /v2/user/ip", status=400, error_code="UDAPI100000", message=HOSTILE)
    )
    click(http, bot.base_url, fake_slack, request_id, user_id="UAPPROVER1")

    wait_until(lambda: any(ESCAPED in t for t in channel_texts(fake_slack)), timeout=10)
    assert not [t for t in channel_texts(fake_slack) if "<!channel>" in t or "<https://evil" in t]


def test_the_ips_in_the_now_registered_announcement_are_escaped(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    request_id = request_change(http, bot.base_url, fake_slack, "8.8.8.8 moving")
    # Upstox answers the PUT with something other than the IPs it was sent.
    answer = {
        "status": "success",
        "data": {"primary_ip": "8.8.8.8 <!channel>", "secondary_ip": "`<https://evil.example>"},
    }
    emulator.state.add_fault(Fault(route="PUT /v2/user/ip", status=200, body=answer))
    click(http, bot.base_url, fake_slack, request_id, user_id="UAPPROVER1")

    def announcement() -> str | None:
        found = [t for t in channel_texts(fake_slack) if "The static IPs are now" in t]
        return found[0] if found else None

    wait_until(lambda: announcement() is not None, timeout=10)
    text = announcement()
    assert text is not None
    assert "`8.8.8.8 &lt;!channel&gt;` (primary)" in text
    assert "`'&lt;https://evil.example&gt;` (secondary)" in text
    assert "<!channel>" not in text and "<https://evil" not in text


def test_the_upstox_user_id_in_the_login_confirmation_is_escaped() -> None:
    for via in (TokenSource.OAUTH, TokenSource.NOTIFIER):
        text = logged_in_text(LoginResult(user_id=HOSTILE, requested_by="UREQUESTER", via=via))
        assert ESCAPED in text
        assert "<!channel>" not in text and "<https://evil" not in text
