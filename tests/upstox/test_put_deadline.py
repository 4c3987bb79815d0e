"""The PUT has one total deadline: httpx's timeout is per phase (a server trickling its
answer resets the read timeout with every chunk), so the client bounds the whole PUT."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from pydantic import SecretStr

from bot.upstox import UpstoxClient, UpstoxOutcomeUnknown

SLOW_SECONDS = 1.5
TIMEOUT = 0.3


async def slow_answer(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(SLOW_SECONDS)  # e.g. bytes trickling in: no phase ever times out
    return httpx.Response(
        200, json={"status": "success", "data": {"primary_ip": "8.8.8.8"}}, request=request
    )


def test_a_put_answer_slower_than_the_timeout_is_an_unknown_outcome_at_the_deadline() -> None:
    async def go() -> float:
        client = UpstoxClient(
            "http://upstox.test", timeout=TIMEOUT, transport=httpx.MockTransport(slow_answer)
        )
        started = time.monotonic()
        try:
            with pytest.raises(UpstoxOutcomeUnknown) as raised:
                await client.update_static_ips(SecretStr("t" * 20), "8.8.8.8", None)
            assert "within 0.3 s" in str(raised.value)
            return time.monotonic() - started
        finally:
            await client.aclose()

    elapsed = asyncio.run(go())
    assert TIMEOUT <= elapsed < SLOW_SECONDS - 0.5
