"""The public-IP lookup on its own: normalising, failures give None with a log line."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.ips import same_ip
from bot.public_ip import PublicIpLookup, parse_ip_text
from tests.support.clock import MutableClock
from tests.support.public_ip_server import PublicIpServer


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("203.0.113.7\n", "203.0.113.7"),
        ("  2001:0DB8:0000:0000::0001 ", "2001:db8::1"),
        ("", None),
        ("203.0.113.7 198.51.100.1", None),
        ("<html>hi</html>", None),
        ("1" * 300, None),
    ],
)
def test_parse_ip_text(body: str, expected: str | None) -> None:
    assert parse_ip_text(body) == expected


def test_same_ip_compares_addresses_not_spellings() -> None:
    assert same_ip("2001:db8::1", "2001:0db8:0::1")
    assert not same_ip("203.0.113.7", "203.0.113.8")
    assert not same_ip(None, "203.0.113.7")


def test_not_configured_is_none_without_a_request() -> None:
    lookup = PublicIpLookup(None)
    assert not lookup.configured
    assert asyncio.run(lookup.current()) is None


def test_unreachable_url_gives_none_and_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.public_ip")

    async def run() -> str | None:
        lookup = PublicIpLookup("http://127.0.0.1:9/", timeout=1.0)
        try:
            return await lookup.current()
        finally:
            await lookup.aclose()

    assert asyncio.run(run()) is None
    assert any("public IP lookup failed" in r.getMessage() for r in caplog.records)


def test_a_burst_of_callers_makes_one_request(ip_server: PublicIpServer) -> None:
    clock = MutableClock()

    async def run() -> list[str | None]:
        lookup = PublicIpLookup(ip_server.url(), clock=clock)
        try:
            return list(await asyncio.gather(*(lookup.current() for _ in range(5))))
        finally:
            await lookup.aclose()

    assert asyncio.run(run()) == [ip_server.body] * 5
    assert ip_server.hits() == 1
