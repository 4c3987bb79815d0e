"""The official SDK (upstox-python-sdk) as an independent client of the emulator's wire format."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import upstox_client
from upstox_client.rest import ApiException

from bot.ist import IST
from bot.upstox.emulator import EmulatorServer


def user_api(emulator: EmulatorServer, token: str) -> upstox_client.UserApi:
    configuration = upstox_client.Configuration()
    configuration.host = emulator.base_url
    configuration.access_token = token
    return upstox_client.UserApi(upstox_client.ApiClient(configuration))


@pytest.fixture
def api(emulator: EmulatorServer) -> upstox_client.UserApi:
    return user_api(emulator, emulator.state.issue_token().value)


def error_entries(exc: ApiException) -> list[dict[str, object]]:
    envelope = json.loads(exc.body)
    assert envelope["status"] == "error"
    return list(envelope["errors"])


def test_sdk_reads_the_ips(emulator: EmulatorServer, api: upstox_client.UserApi) -> None:
    when = datetime(2026, 4, 3, 17, 17, 50, tzinfo=IST)
    emulator.state.set_ips("122.181.101.247", "128.1.1.2", when, when)

    data, status, _headers = api.get_user_ips_with_http_info()

    assert status == 200
    assert data.status == "success"
    assert data.data.primary_ip == "122.181.101.247"
    assert data.data.secondary_ip == "128.1.1.2"
    assert data.data.primary_ip_updated_at == "2026-04-03 17:17:50"
    assert data.data.secondary_ip_updated_at == "2026-04-03 17:17:50"
    assert data.data.access_tokens_invalidated is None


def test_sdk_reads_a_missing_secondary(
    emulator: EmulatorServer, api: upstox_client.UserApi
) -> None:
    emulator.state.set_ips("203.0.113.1", None, datetime(2026, 4, 3, tzinfo=IST))
    data = api.get_user_ips().data
    assert (data.primary_ip, data.secondary_ip, data.secondary_ip_updated_at) == (
        "203.0.113.1",
        None,
        None,
    )


def test_sdk_updates_the_ips_and_its_token_dies(
    emulator: EmulatorServer, api: upstox_client.UserApi
) -> None:
    request = upstox_client.UpdateUserIpRequest(
        primary_ip="203.0.113.10", secondary_ip="203.0.113.11"
    )
    answer = api.update_user_ip(request)

    assert answer.status == "success"
    assert answer.data.primary_ip == "203.0.113.10"
    assert answer.data.secondary_ip == "203.0.113.11"
    assert answer.data.access_tokens_invalidated is True
    assert emulator.state.ips.primary_ip == "203.0.113.10"

    with pytest.raises(ApiException) as caught:
        api.get_user_ips()
    assert caught.value.status == 401
    assert [e["error_code"] for e in error_entries(caught.value)] == ["UDAPI100050"]


def test_sdk_sees_validation_and_weekly_errors(
    emulator: EmulatorServer, api: upstox_client.UserApi
) -> None:
    with pytest.raises(ApiException) as invalid:
        api.update_user_ip(upstox_client.UpdateUserIpRequest(primary_ip="300.1.1.1"))
    [entry] = error_entries(invalid.value)
    assert (entry["error_code"], entry["property_path"]) == ("UDAPI1183", "primary_ip")

    emulator.state.set_ips("203.0.113.1", None, emulator.state.now())
    with pytest.raises(ApiException) as weekly:
        api.update_user_ip(upstox_client.UpdateUserIpRequest(primary_ip="203.0.113.9"))
    assert [e["error_code"] for e in error_entries(weekly.value)] == ["UDAPI1185"]
    assert len(emulator.state.calls_to("PUT /v2/user/ip")) == 2


def test_sdk_reads_the_profile(emulator: EmulatorServer, api: upstox_client.UserApi) -> None:
    profile = api.get_profile(api_version="2.0")
    assert profile.status == "success"
    assert profile.data.user_id == emulator.state.config.user_id
    assert profile.data.is_active is True


def test_sdk_starts_an_access_token_request(emulator: EmulatorServer) -> None:
    emulator.state.config = type(emulator.state.config)(notifier_url="http://127.0.0.1:9/hook")
    configuration = upstox_client.Configuration()
    configuration.host = emulator.base_url
    login = upstox_client.LoginApi(upstox_client.ApiClient(configuration))
    answer = login.init_token_request_for_indie_user(
        body=upstox_client.IndieUserTokenRequest(client_secret=emulator.state.config.client_secret),
        client_id=emulator.state.config.client_id,
    )
    assert answer.status == "success"
    assert answer.data.notifier_url == "http://127.0.0.1:9/hook"
    assert answer.data.authorization_expiry.isdigit()
