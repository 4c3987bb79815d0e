"""The emulator behaves as the Upstox docs say: weekly rule, token lifecycle, login flows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.ist import IST
from bot.upstox import (
    NotifierPayload,
    UpstoxApiError,
    UpstoxClient,
    UpstoxTokenInvalid,
    UpstoxWeeklyLimit,
)
from bot.upstox.emulator import EmulatorServer
from tests.upstox.helpers import NotifierReceiver, admin, error_codes, raw

WEDNESDAY = datetime(2026, 4, 1, 10, 0, tzinfo=IST)
UPSTOX_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def fresh_token(emulator: EmulatorServer) -> SecretStr:
    return SecretStr(emulator.state.issue_token().value)


# Static IPs -------------------------------------------------------------------------------


def test_get_shape_matches_the_docs(emulator: EmulatorServer, token: SecretStr) -> None:
    emulator.state.set_ips("122.181.101.247", "128.1.1.2", WEDNESDAY, WEDNESDAY)
    response = raw(emulator, "GET", "/v2/user/ip", token.get_secret_value())
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": {
            "user_id": emulator.state.config.user_id,
            "primary_ip": "122.181.101.247",
            "secondary_ip": "128.1.1.2",
            "primary_ip_updated_at": "2026-04-01 10:00:00",
            "secondary_ip_updated_at": "2026-04-01 10:00:00",
        },
    }


def test_never_set_secondary_is_omitted_or_null(emulator: EmulatorServer, token: SecretStr) -> None:
    emulator.state.set_ips("203.0.113.1", None, WEDNESDAY)
    data = raw(emulator, "GET", "/v2/user/ip", token.get_secret_value()).json()["data"]
    assert "secondary_ip" not in data
    assert "secondary_ip_updated_at" not in data

    emulator.state.absent_fields = "null"
    data = raw(emulator, "GET", "/v2/user/ip", token.get_secret_value()).json()["data"]
    assert data["secondary_ip"] is None
    assert data["secondary_ip_updated_at"] is None


async def test_client_reads_both_absent_styles(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.set_ips("203.0.113.1", None, WEDNESDAY)
    for style in ("omit", "null"):
        emulator.state.absent_fields = style
        ips = await client.get_static_ips(token)
        assert (ips.secondary_ip, ips.secondary_ip_updated_at) == (None, None)
        assert ips.primary_ip_updated_at == WEDNESDAY


async def test_put_answers_ist_timestamps_and_invalidates_every_token(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    emulator.state.clock.set(datetime(2026, 4, 6, 4, 30, tzinfo=UTC), frozen=True)
    caller, other = fresh_token(emulator), fresh_token(emulator)

    response = raw(
        emulator,
        "PUT",
        "/v2/user/ip",
        caller.get_secret_value(),
        json={"primary_ip": "203.0.113.10", "secondary_ip": "203.0.113.11"},
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["access_tokens_invalidated"] is True
    assert data["primary_ip_updated_at"] == "2026-04-06 10:00:00"  # 04:30 UTC is 10:00 IST
    assert UPSTOX_TIMESTAMP.match(data["secondary_ip_updated_at"])
    for dead in (caller, other):
        answer = raw(emulator, "GET", "/v2/user/ip", dead.get_secret_value())
        assert (answer.status_code, error_codes(answer)) == (401, ["UDAPI100050"])
        with pytest.raises(UpstoxTokenInvalid):
            await client.get_profile(dead)


async def test_failed_put_keeps_tokens(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    response = raw(emulator, "PUT", "/v2/user/ip", token.get_secret_value(), json={})
    assert (response.status_code, error_codes(response)) == (400, ["UDAPI1182"])
    assert (await client.get_profile(token)).user_id == emulator.state.config.user_id


def test_omitted_secondary_keeps_the_registered_one(
    emulator: EmulatorServer, token: SecretStr
) -> None:
    # An explicit null is invalid input: tests/upstox/test_secondary_ip_contract.py.
    emulator.state.set_ips("203.0.113.1", "203.0.113.2")
    response = raw(
        emulator,
        "PUT",
        "/v2/user/ip",
        token.get_secret_value(),
        json={"primary_ip": "203.0.113.10"},
    )
    assert response.json()["data"]["secondary_ip"] == "203.0.113.2"


async def test_calendar_week_rule_reopens_on_monday_midnight_ist(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    assert emulator.state.week_rule == "calendar_week"  # the documented rule is the default
    emulator.state.clock.set(WEDNESDAY, frozen=True)
    await client.update_static_ips(fresh_token(emulator), "203.0.113.10", None)

    emulator.state.clock.set(datetime(2026, 4, 5, 23, 59, 59, tzinfo=IST), frozen=True)  # Sun
    with pytest.raises(UpstoxWeeklyLimit):
        await client.update_static_ips(fresh_token(emulator), "203.0.113.20", None)
    emulator.state.clock.advance(1)  # Monday 00:00 IST: a new calendar week
    second = await client.update_static_ips(fresh_token(emulator), "203.0.113.20", None)
    assert second.primary_ip == "203.0.113.20"
    statuses = [call.status for call in emulator.state.calls_to("PUT /v2/user/ip")]
    assert statuses == [200, 423, 200]


async def test_rolling_seven_days_rule_blocks_then_reopens(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    snapshot = admin(emulator, "POST", "/config", json={"week_rule": "rolling_7_days"})
    assert snapshot["week_rule"] == "rolling_7_days"
    emulator.state.clock.set(WEDNESDAY, frozen=True)
    first = await client.update_static_ips(fresh_token(emulator), "203.0.113.10", None)
    assert first.access_tokens_invalidated is True
    assert first.last_changed_at == WEDNESDAY

    emulator.state.clock.set(datetime(2026, 4, 6, 0, 0, tzinfo=IST), frozen=True)  # next Monday
    with pytest.raises(UpstoxWeeklyLimit):
        await client.update_static_ips(fresh_token(emulator), "203.0.113.20", None)
    emulator.state.clock.set(WEDNESDAY + timedelta(days=7, seconds=-1), frozen=True)
    with pytest.raises(UpstoxWeeklyLimit):
        await client.update_static_ips(fresh_token(emulator), "203.0.113.20", None)

    emulator.state.clock.advance(1)
    second = await client.update_static_ips(fresh_token(emulator), "203.0.113.20", None)
    assert second.primary_ip == "203.0.113.20"
    statuses = [call.status for call in emulator.state.calls_to("PUT /v2/user/ip")]
    assert statuses == [200, 423, 423, 200]
    assert admin(emulator, "POST", "/reset")["week_rule"] == "calendar_week"


async def test_secondary_only_change_uses_up_the_week(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    emulator.state.set_ips("203.0.113.1", None, WEDNESDAY - timedelta(days=30))
    await client.update_static_ips(fresh_token(emulator), "203.0.113.1", "203.0.113.2")
    with pytest.raises(UpstoxWeeklyLimit):
        await client.update_static_ips(fresh_token(emulator), "203.0.113.1", "203.0.113.3")


# Tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued", "expires"),
    [
        (datetime(2026, 4, 1, 2, 30, tzinfo=IST), datetime(2026, 4, 1, 3, 30, tzinfo=IST)),
        (datetime(2026, 4, 1, 3, 30, tzinfo=IST), datetime(2026, 4, 2, 3, 30, tzinfo=IST)),
        (datetime(2026, 4, 1, 23, 59, tzinfo=IST), datetime(2026, 4, 2, 3, 30, tzinfo=IST)),
    ],
)
async def test_tokens_expire_at_0330_ist(
    emulator: EmulatorServer, client: UpstoxClient, issued: datetime, expires: datetime
) -> None:
    emulator.state.clock.set(issued, frozen=True)
    token = fresh_token(emulator)

    emulator.state.clock.set(expires - timedelta(seconds=1), frozen=True)
    await client.get_profile(token)
    emulator.state.clock.set(expires, frozen=True)
    with pytest.raises(UpstoxTokenInvalid):
        await client.get_profile(token)


# OAuth -------------------------------------------------------------------------------------


def _authorize(emulator: EmulatorServer, url: str) -> httpx.Response:
    with httpx.Client(timeout=5.0, follow_redirects=False) as http:
        return http.get(url)


async def test_authorization_dialog_redirects_with_a_single_use_code(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    config = emulator.state.config
    url = client.authorization_url(
        client_id=config.client_id, redirect_uri=config.redirect_uri, state="s t&ate/1"
    )
    assert url.startswith(f"{emulator.base_url}/v2/login/authorization/dialog?response_type=code")

    response = _authorize(emulator, url)

    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == config.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["s t&ate/1"]
    [code] = query["code"]

    exchange = {
        "client_id": config.client_id,
        "client_secret": SecretStr(config.client_secret),
        "redirect_uri": config.redirect_uri,
    }
    token = await client.exchange_code(code=code, **exchange)  # type: ignore[arg-type]
    assert token.user_id == config.user_id
    assert token.model_extra is not None and token.model_extra["broker"] == "UPSTOX"
    assert (await client.get_profile(token.access_token)).user_id == config.user_id

    with pytest.raises(UpstoxApiError) as reused:
        await client.exchange_code(code=code, **exchange)  # type: ignore[arg-type]
    assert reused.value.code == "UDAPI100016"


async def test_token_answer_is_flat_json(emulator: EmulatorServer, client: UpstoxClient) -> None:
    config = emulator.state.config
    redirect = _authorize(
        emulator,
        client.authorization_url(
            client_id=config.client_id, redirect_uri=config.redirect_uri, state="x"
        ),
    )
    [code] = parse_qs(urlsplit(redirect.headers["location"]).query)["code"]
    with httpx.Client(base_url=emulator.base_url) as http:
        response = http.post(
            "/v2/login/authorization/token",
            data={
                "code": code,
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "redirect_uri": config.redirect_uri,
                "grant_type": "authorization_code",
            },
            headers={"Accept": "application/json"},
        )
    body = response.json()
    assert "status" not in body and "data" not in body and "expires_in" not in body
    for field in (
        "email",
        "exchanges",
        "products",
        "broker",
        "user_id",
        "user_name",
        "order_types",
        "user_type",
        "poa",
        "is_active",
        "access_token",
        "extended_token",
    ):
        assert field in body


async def test_code_is_burnt_even_when_the_exchange_fails(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    config = emulator.state.config
    redirect = _authorize(
        emulator,
        client.authorization_url(
            client_id=config.client_id, redirect_uri=config.redirect_uri, state="x"
        ),
    )
    [code] = parse_qs(urlsplit(redirect.headers["location"]).query)["code"]
    with pytest.raises(UpstoxApiError):
        await client.exchange_code(
            code=code,
            client_id=config.client_id,
            client_secret=SecretStr(config.client_secret),
            redirect_uri="https://elsewhere.example/cb",
        )
    with pytest.raises(UpstoxApiError) as second:
        await client.exchange_code(
            code=code,
            client_id=config.client_id,
            client_secret=SecretStr(config.client_secret),
            redirect_uri=config.redirect_uri,
        )
    assert second.value.code == "UDAPI100016"


@pytest.mark.parametrize("wrong", ["client_id", "redirect_uri"])
def test_authorization_dialog_checks_the_app(
    emulator: EmulatorServer, client: UpstoxClient, wrong: str
) -> None:
    config = emulator.state.config
    params = {"client_id": config.client_id, "redirect_uri": config.redirect_uri}
    params[wrong] = params[wrong] + "x"
    response = _authorize(emulator, client.authorization_url(state="s", **params))
    assert (response.status_code, error_codes(response)) == (400, ["UDAPI100068"])
    assert emulator.state.auth_codes == {}


# Access Token Request ------------------------------------------------------------------------


async def test_access_token_request_delivers_the_token_to_the_notifier(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    emulator.state.clock.set(datetime(2026, 4, 1, 12, 0, tzinfo=IST), frozen=True)
    config = emulator.state.config
    with NotifierReceiver() as receiver:
        admin(emulator, "POST", "/config", json={"notifier_url": receiver.url})
        started = await client.start_access_token_request(
            client_id=config.client_id, client_secret=SecretStr(config.client_secret)
        )
        assert started.authorization_expiry == datetime(2026, 4, 2, 3, 30, tzinfo=IST)
        assert started.notifier_url == receiver.url
        assert receiver.received == []  # nothing until the user approves

        approval = admin(emulator, "POST", "/token-requests/approve")

        assert receiver.arrived.wait(5)
    assert approval["delivered"] is True
    [body] = receiver.received
    assert set(body) == {
        "client_id",
        "user_id",
        "access_token",
        "token_type",
        "expires_at",
        "issued_at",
        "message_type",
    }
    assert all(isinstance(value, str) for value in body.values())
    payload = NotifierPayload.model_validate(body)
    assert (payload.client_id, payload.message_type) == (config.client_id, "access_token")
    assert payload.expires_at == datetime(2026, 4, 2, 3, 30, tzinfo=IST)
    assert (await client.get_profile(payload.access_token)).user_id == payload.user_id


async def test_access_token_request_checks_the_secret(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    admin(emulator, "POST", "/config", json={"notifier_url": "http://127.0.0.1:9/n"})
    with pytest.raises(UpstoxApiError) as caught:
        await client.start_access_token_request(
            client_id=emulator.state.config.client_id, client_secret=SecretStr("wrong")
        )
    assert caught.value.code == "UDAPI100069"
    with httpx.Client(base_url=emulator.base_url) as http:
        assert http.post("/_emulator/token-requests/approve").status_code == 409


# Admin API and CLI -------------------------------------------------------------------------


def test_admin_api_round_trip(emulator: EmulatorServer) -> None:
    admin(
        emulator,
        "POST",
        "/ips",
        json={"primary_ip": "203.0.113.1", "primary_ip_updated_at": "2026-04-01T10:00:00"},
    )
    clock = admin(emulator, "POST", "/clock", json={"now": "2026-04-03T12:00:00+05:30"})
    assert clock["now"].startswith("2026-04-03T12:00")
    issued = admin(emulator, "POST", "/tokens", json={})
    assert issued["expires_at"] == "2026-04-04T03:30:00+05:30"
    token = issued["access_token"]

    admin(
        emulator,
        "POST",
        "/faults",
        json={"faults": [{"route": "GET /v2/user/ip", "status": 503}]},
    )
    assert raw(emulator, "GET", "/v2/user/ip", token).status_code == 503
    assert raw(emulator, "GET", "/v2/user/ip", token).status_code == 200
    put = raw(emulator, "PUT", "/v2/user/ip", token, json={"primary_ip": "203.0.113.9"})
    assert error_codes(put) == ["UDAPI1185"]  # changed on the 1st, now the 3rd

    admin(emulator, "POST", "/clock", json={"advance_seconds": 7 * 86400})
    assert raw(emulator, "GET", "/v2/user/ip", token).status_code == 401  # past 03:30

    calls = admin(emulator, "GET", "/calls")
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("GET", "/v2/user/ip", 503),
        ("GET", "/v2/user/ip", 200),
        ("PUT", "/v2/user/ip", 423),
        ("GET", "/v2/user/ip", 401),
    ]
    state = admin(emulator, "GET", "/state")
    assert state["ips"]["primary_ip"] == "203.0.113.1"
    assert state["next_change_allowed_at"] == "2026-04-06T00:00:00+05:30"  # calendar week
    assert token not in str(state)

    with httpx.Client(base_url=f"{emulator.base_url}/_emulator") as http:
        bad = http.post("/faults", json={"faults": [{"route": "GET /nope", "status": 500}]})
        assert bad.status_code == 400
    admin(emulator, "POST", "/config", json={"ip_access": "app_inactive"})
    fresh = admin(emulator, "POST", "/tokens")["access_token"]
    assert error_codes(raw(emulator, "GET", "/v2/user/ip", fresh)) == ["UDAPI1180"]

    admin(emulator, "POST", "/reset")
    assert admin(emulator, "GET", "/calls") == []
    assert raw(emulator, "GET", "/v2/user/ip", fresh).status_code == 401


def test_unknown_routes_answer_the_envelope(emulator: EmulatorServer) -> None:
    response = raw(emulator, "GET", "/v2/nope")
    assert response.status_code == 404
    assert response.json()["status"] == "error"


def test_errors_carry_camel_case_twins(emulator: EmulatorServer) -> None:
    [entry] = raw(emulator, "GET", "/v2/user/ip", "bad").json()["errors"]
    assert entry["error_code"] == entry["errorCode"] == "UDAPI100050"
    assert {"property_path", "invalid_value", "propertyPath", "invalidValue"} <= set(entry)
