"""Every error path of the client, produced by the emulator over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from bot.ist import IST
from bot.upstox import (
    UpstoxApiError,
    UpstoxClient,
    UpstoxConcurrentUpdate,
    UpstoxInvalidInput,
    UpstoxNotAllowed,
    UpstoxRateLimited,
    UpstoxTokenInvalid,
    UpstoxUnavailable,
    UpstoxWeeklyLimit,
)
from bot.upstox.emulator import EmulatorServer, Fault
from tests.upstox.helpers import closed_port_url

WEDNESDAY = datetime(2026, 4, 1, 10, 0, tzinfo=IST)


def put_count(emulator: EmulatorServer) -> int:
    return len(emulator.state.calls_to("PUT /v2/user/ip"))


async def test_expired_token_is_token_invalid_everywhere(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    emulator.state.clock.set(WEDNESDAY, frozen=True)
    token = SecretStr(emulator.state.issue_token().value)
    emulator.state.clock.advance(timedelta(days=1).total_seconds())

    with pytest.raises(UpstoxTokenInvalid) as read:
        await client.get_static_ips(token)
    with pytest.raises(UpstoxTokenInvalid):
        await client.get_profile(token)
    with pytest.raises(UpstoxTokenInvalid):
        await client.update_static_ips(token, "203.0.113.10", None)

    assert (read.value.code, read.value.status) == ("UDAPI100050", 401)
    assert [c.status for c in emulator.state.calls] == [401, 401, 401]  # 401 is not retried


async def test_unknown_token_is_token_invalid(client: UpstoxClient) -> None:
    with pytest.raises(UpstoxTokenInvalid):
        await client.get_static_ips(SecretStr("never-issued"))


async def test_weekly_limit_from_the_real_rule(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.set_ips("203.0.113.1", None, WEDNESDAY)
    emulator.state.clock.set(WEDNESDAY + timedelta(days=2))

    with pytest.raises(UpstoxWeeklyLimit) as caught:
        await client.update_static_ips(token, "203.0.113.10", "203.0.113.11")

    assert caught.value.code == "UDAPI1185"
    assert put_count(emulator) == 1
    assert emulator.state.ips.primary_ip == "203.0.113.1"


@pytest.mark.parametrize(
    ("primary", "secondary", "code", "field"),
    [
        ("", None, "UDAPI1182", "primary_ip"),
        ("999.1.1.1", None, "UDAPI1183", "primary_ip"),
        ("203.0.113.10", "not-an-ip", "UDAPI1183", "secondary_ip"),
        ("203.0.113.10", "203.0.113.10", "UDAPI1184", "secondary_ip"),
        ("2001:db8::1", "2001:DB8:0::1", "UDAPI1184", "secondary_ip"),
    ],
)
async def test_invalid_input_names_the_field(
    emulator: EmulatorServer,
    client: UpstoxClient,
    token: SecretStr,
    primary: str,
    secondary: str | None,
    code: str,
    field: str,
) -> None:
    with pytest.raises(UpstoxInvalidInput) as caught:
        await client.update_static_ips(token, primary, secondary)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert put_count(emulator) == 1


@pytest.mark.parametrize(
    ("access", "code"),
    [("not_allowed", "UDAPI1179"), ("app_inactive", "UDAPI1180"), ("not_available", "UDAPI1181")],
)
async def test_not_allowed_on_read_and_write(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr, access: str, code: str
) -> None:
    emulator.state.ip_access = access  # type: ignore[assignment]
    with pytest.raises(UpstoxNotAllowed) as read:
        await client.get_static_ips(token)
    with pytest.raises(UpstoxNotAllowed) as write:
        await client.update_static_ips(token, "203.0.113.10", None)
    assert read.value.reason == write.value.reason == access
    assert read.value.code == code
    assert len(emulator.state.calls) == 2  # permanent: not retried


async def test_concurrent_update_loses_with_1186(
    emulator: EmulatorServer, token: SecretStr
) -> None:
    emulator.state.put_delay = 0.3
    async with UpstoxClient(emulator.base_url, timeout=5.0) as client:
        results = await asyncio.gather(
            client.update_static_ips(token, "203.0.113.10", None),
            client.update_static_ips(token, "203.0.113.20", None),
            return_exceptions=True,
        )
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(losers) == 1
    assert isinstance(losers[0], UpstoxConcurrentUpdate)
    assert losers[0].code == "UDAPI1186"
    assert put_count(emulator) == 2


async def test_rate_limited_with_retry_after(emulator: EmulatorServer, token: SecretStr) -> None:
    emulator.state.add_fault(Fault(route="GET /v2/user/ip", status=429, retry_after=7))
    async with UpstoxClient(emulator.base_url, timeout=1.0, read_attempts=1) as client:
        with pytest.raises(UpstoxRateLimited) as caught:
            await client.get_static_ips(token)
    assert (caught.value.code, caught.value.retry_after) == ("UDAPI10005", 7.0)


async def test_the_emulators_own_rate_limit(emulator: EmulatorServer, token: SecretStr) -> None:
    """50 requests per second per user and API; the 51st in the same second is refused."""
    emulator.state.clock.set(WEDNESDAY, frozen=True)
    async with UpstoxClient(emulator.base_url, timeout=2.0, read_attempts=1) as client:
        for _ in range(50):
            await client.get_profile(token)
        with pytest.raises(UpstoxRateLimited):
            await client.get_profile(token)
        await client.get_static_ips(token)  # another API has its own budget
        emulator.state.clock.advance(1)
        await client.get_profile(token)
    statuses = [c.status for c in emulator.state.calls_to("GET /v2/user/profile")]
    assert statuses == [200] * 50 + [429, 200]


async def test_put_rate_limited_is_not_retried(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(Fault(route="PUT /v2/user/ip", status=429, count=5))
    with pytest.raises(UpstoxRateLimited):
        await client.update_static_ips(token, "203.0.113.10", None)
    assert put_count(emulator) == 1


async def test_server_errors_become_unavailable_after_retries(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(Fault(route="GET /v2/user/profile", status=503, count=10))
    with pytest.raises(UpstoxUnavailable) as caught:
        await client.get_profile(token)
    assert caught.value.status == 503
    assert caught.value.code == "UDAPI100500"


async def test_html_gateway_error_is_unavailable(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(
        Fault(route="GET /v2/user/ip", status=502, body="<html>Bad gateway</html>", count=10)
    )
    with pytest.raises(UpstoxUnavailable) as caught:
        await client.get_static_ips(token)
    assert caught.value.code is None
    assert str(caught.value) == "HTTP 502: GET /v2/user/ip answered HTTP 502"


async def test_connection_refused_is_unavailable(token: SecretStr) -> None:
    async with UpstoxClient(closed_port_url(), timeout=1.0, backoff_base=0.01) as client:
        with pytest.raises(UpstoxUnavailable):
            await client.get_static_ips(token)
        with pytest.raises(UpstoxUnavailable):  # nothing was sent: not "outcome unknown"
            await client.update_static_ips(token, "203.0.113.10", None)


async def test_other_errors_keep_code_and_message(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(
        Fault(
            route="PUT /v2/user/ip",
            status=400,
            error_code="UDAPI100036",
            message="IP 203.0.113.10 is already registered by another customer",
        )
    )
    with pytest.raises(UpstoxApiError) as caught:
        await client.update_static_ips(token, "203.0.113.10", None)
    assert caught.value.code == "UDAPI100036"
    assert caught.value.message == "IP 203.0.113.10 is already registered by another customer"
    assert caught.value.status == 400


async def test_1185_on_a_read_is_not_the_weekly_limit(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(Fault(route="GET /v2/user/ip", status=423, error_code="UDAPI1185"))
    with pytest.raises(UpstoxApiError) as caught:
        await client.get_static_ips(token)
    assert caught.value.code == "UDAPI1185"


async def test_camel_case_envelope_with_several_errors(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    body = {
        "status": "error",
        "errors": [
            {"errorCode": "UDAPI100036", "message": "first", "propertyPath": None},
            {
                "errorCode": "UDAPI1183",
                "message": "Invalid IP",
                "propertyPath": "secondary_ip",
                "invalidValue": "1.2.3",
            },
        ],
    }
    emulator.state.add_fault(Fault(route="PUT /v2/user/ip", status=400, body=body))
    with pytest.raises(UpstoxInvalidInput) as caught:
        await client.update_static_ips(token, "203.0.113.10", "1.2.3")
    assert (caught.value.code, caught.value.field) == ("UDAPI1183", "secondary_ip")
    assert [e.error_code for e in caught.value.errors] == ["UDAPI100036", "UDAPI1183"]
    assert caught.value.errors[1].invalid_value == "1.2.3"


async def test_token_exchange_with_a_bad_secret_is_not_token_invalid(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    config = emulator.state.config
    with pytest.raises(UpstoxApiError) as caught:
        await client.exchange_code(
            code="whatever",
            client_id=config.client_id,
            client_secret=SecretStr("wrong"),
            redirect_uri=config.redirect_uri,
        )
    assert (caught.value.code, caught.value.status) == ("UDAPI100016", 401)


async def test_access_token_request_needs_a_notifier_url(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    config = emulator.state.config
    assert config.notifier_url is None
    with pytest.raises(UpstoxApiError) as caught:
        await client.start_access_token_request(
            client_id=config.client_id, client_secret=SecretStr(config.client_secret)
        )
    assert caught.value.code == "UDAPI1123"
