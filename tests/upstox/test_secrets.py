"""Tokens and the client secret never show in log lines, exception texts or reprs."""

from __future__ import annotations

import logging
import traceback
from datetime import datetime

import pytest
from pydantic import SecretStr

from bot.ist import IST
from bot.upstox import UpstoxClient, UpstoxError
from bot.upstox.emulator import EmulatorServer, Fault
from tests.upstox.helpers import closed_port_url

# Long and distinctive, so a partial leak would be found too.
TOKEN = "tok-SECRET-0123456789-abcdefghij"
CLIENT_SECRET = "sec-SECRET-9876543210-zyxwvutsrq"


async def test_no_secret_in_logs_or_errors(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: every library logger, httpx and httpcore included
    state = emulator.state
    state.config = type(state.config)(client_secret=CLIENT_SECRET)
    state.clock.set(datetime(2026, 4, 1, 10, 0, tzinfo=IST), frozen=True)
    state.issue_token(value=TOKEN)
    token = SecretStr(TOKEN)
    state.set_ips("203.0.113.1", None, state.now())
    state.add_fault(Fault(route="GET /v2/user/ip", status=503, count=3))
    state.add_fault(Fault(route="GET /v2/user/profile", kind="timeout", count=3))
    state.add_fault(
        Fault(route="POST /v3/login/auth/token/request", status=400, message=f"bad {CLIENT_SECRET}")
    )
    state.add_fault(
        Fault(
            route="POST /v2/login/authorization/token",
            status=200,
            body={"access_token": TOKEN, "user_name": "no user_id"},
        )
    )

    errors: list[UpstoxError] = []
    async with UpstoxClient(emulator.base_url, timeout=0.3, backoff_base=0.01) as client:
        calls = [
            client.get_static_ips(token),  # 503, retried, unavailable
            client.get_profile(token),  # timeouts, retried, unavailable
            client.update_static_ips(token, "203.0.113.5", None),  # weekly limit
            client.start_access_token_request(
                client_id=state.config.client_id, client_secret=SecretStr(CLIENT_SECRET)
            ),  # error message echoing the secret
            client.exchange_code(
                code="c",
                client_id=state.config.client_id,
                client_secret=SecretStr(CLIENT_SECRET),
                redirect_uri=state.config.redirect_uri,
            ),  # unreadable answer that contains the token
        ]
        for call in calls:
            with pytest.raises(UpstoxError) as caught:
                await call
            errors.append(caught.value)
        state.add_fault(Fault(route="PUT /v2/user/ip", kind="commit_then_drop"))
        state.clock.advance(8 * 86400)
        state.issue_token(value=TOKEN)
        with pytest.raises(UpstoxError) as dropped:  # outcome unknown
            await client.update_static_ips(token, "203.0.113.6", None)
        errors.append(dropped.value)
        with pytest.raises(UpstoxError) as expired:  # the PUT killed the token
            await client.get_static_ips(token)
        errors.append(expired.value)
        assert TOKEN not in repr(client)
    async with UpstoxClient(closed_port_url(), timeout=0.3, backoff_base=0.01) as offline:
        with pytest.raises(UpstoxError) as refused:
            await offline.update_static_ips(token, "203.0.113.7", None)
        errors.append(refused.value)

    kinds = [type(e).__name__ for e in errors]
    assert kinds == [
        "UpstoxUnavailable",
        "UpstoxUnavailable",
        "UpstoxWeeklyLimit",
        "UpstoxApiError",
        "UpstoxApiError",
        "UpstoxOutcomeUnknown",
        "UpstoxTokenInvalid",
        "UpstoxUnavailable",
    ]
    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += ["".join(traceback.format_exception(e)) for e in errors]
    texts += [repr(detail) for e in errors for detail in e.errors]
    texts.append(caplog.text)
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]

    # The capture did see the traffic: httpx's request lines and the client's own.
    assert any(r.name == "httpx" and "HTTP Request" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert any(r.name == "bot.upstox.client" for r in caplog.records)
    assert "[redacted]" in str(errors[3])
    for text in texts:
        assert TOKEN not in text
        assert CLIENT_SECRET not in text
        assert TOKEN[:16] not in text
