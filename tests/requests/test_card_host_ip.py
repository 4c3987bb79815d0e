"""With PUBLIC_IP_URL set, the card checks the proposal against this host's public IP."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import cards, puts, request_change
from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack
from tests.support.public_ip_server import PublicIpServer

WARNING = "after this change, orders from this host will be rejected"


def test_card_warns_when_this_host_is_not_in_the_proposal(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    ip_server: PublicIpServer,
) -> None:
    ip_server.body = "198.51.100.20"
    bot = make_bot(public_ip_url=ip_server.url())
    request_change(http, bot, fake_slack)  # proposes 8.8.8.8 and 9.9.9.9
    [card] = cards(fake_slack)
    blob = card.text_blob()
    assert "This host's public IP `198.51.100.20` is not among the proposed IPs" in blob
    assert WARNING in blob
    assert puts(emulator) == 0


def test_card_says_so_when_this_host_is_in_the_proposal(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    ip_server: PublicIpServer,
) -> None:
    ip_server.body = "9.9.9.9"  # the proposed secondary
    bot = make_bot(public_ip_url=ip_server.url())
    request_change(http, bot, fake_slack)
    [card] = cards(fake_slack)
    blob = card.text_blob()
    assert "This host's public IP `9.9.9.9` is among the proposed IPs" in blob
    assert WARNING not in blob


def test_no_public_ip_url_no_host_line(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    request_change(http, bot, fake_slack)
    [card] = cards(fake_slack)
    assert "This host's public IP" not in card.text_blob()


def test_public_ip_url_not_answering_is_said_on_the_card(
    make_bot: Callable[..., InProcessBot],
    http: httpx.Client,
    fake_slack: FakeSlack,
    ip_server: PublicIpServer,
) -> None:
    ip_server.status = 503
    bot = make_bot(public_ip_url=ip_server.url())
    request_change(http, bot, fake_slack)
    [card] = cards(fake_slack)
    assert "public IP could not be determined" in card.text_blob()
