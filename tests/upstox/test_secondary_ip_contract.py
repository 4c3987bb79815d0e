"""Upstox's contract for `secondary_ip` (issue 16, item 3): omit it when none is wanted.

The bot's client leaves the key out; the emulator, like the docs, treats an explicit
`null` as invalid input. The official SDK leaves out unset fields too (its serializer drops
every None attribute), so it agrees with both.
"""

from __future__ import annotations

import json

import pytest
import upstox_client
from pydantic import SecretStr
from upstox_client.rest import ApiException

from bot.upstox import UpstoxClient, UpstoxInvalidInput
from bot.upstox.emulator import EmulatorServer
from bot.upstox.errors import Endpoint, error_for_response, parse_error_details
from tests.upstox.helpers import admin, raw

PUT_IP = "PUT /v2/user/ip"


def put_bodies(emulator: EmulatorServer) -> list[object]:
    """The PUT bodies as the emulator's admin call log reports them."""
    return [call["body"] for call in admin(emulator, "GET", "/calls") if call["route"] == PUT_IP]


async def test_a_change_without_secondary_sends_no_secondary_key(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.set_ips("203.0.113.1", "203.0.113.2")

    result = await client.update_static_ips(token, "203.0.113.10", None)

    assert put_bodies(emulator) == [{"primary_ip": "203.0.113.10"}]
    assert (result.primary_ip, result.secondary_ip) == ("203.0.113.10", "203.0.113.2")


async def test_a_change_with_secondary_sends_both(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    await client.update_static_ips(token, "203.0.113.10", "203.0.113.11")
    assert put_bodies(emulator) == [{"primary_ip": "203.0.113.10", "secondary_ip": "203.0.113.11"}]


async def test_an_explicit_null_secondary_is_invalid_input(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.set_ips("203.0.113.1", "203.0.113.2")

    response = raw(
        emulator,
        "PUT",
        "/v2/user/ip",
        token.get_secret_value(),
        json={"primary_ip": "203.0.113.10", "secondary_ip": None},
    )

    assert response.status_code == 400
    [entry] = response.json()["errors"]
    assert (entry["error_code"], entry["property_path"], entry["invalid_value"]) == (
        "UDAPI1183",
        "secondary_ip",
        None,
    )
    # Rejected input changes nothing: same IPs, week not used up, the token still works.
    assert (emulator.state.ips.primary_ip, emulator.state.ips.secondary_ip) == (
        "203.0.113.1",
        "203.0.113.2",
    )
    assert (await client.get_static_ips(token)).primary_ip == "203.0.113.1"
    assert put_bodies(emulator) == [{"primary_ip": "203.0.113.10", "secondary_ip": None}]


def test_the_client_reads_the_null_rejection_as_invalid_input(
    emulator: EmulatorServer, token: SecretStr
) -> None:
    # Through the client's own error mapping, with a body only a raw caller could send.
    response = raw(
        emulator,
        "PUT",
        "/v2/user/ip",
        token.get_secret_value(),
        json={"primary_ip": "203.0.113.10", "secondary_ip": None},
    )
    error = error_for_response(
        Endpoint.PUT_IPS, response.status_code, parse_error_details(response.content)
    )
    assert isinstance(error, UpstoxInvalidInput)


def test_the_official_sdk_omits_an_unset_secondary(
    emulator: EmulatorServer, token: SecretStr
) -> None:
    configuration = upstox_client.Configuration()
    configuration.host = emulator.base_url
    configuration.access_token = token.get_secret_value()
    api = upstox_client.UserApi(upstox_client.ApiClient(configuration))

    api.update_user_ip(upstox_client.UpdateUserIpRequest(primary_ip="203.0.113.10"))

    assert put_bodies(emulator) == [{"primary_ip": "203.0.113.10"}]
    with pytest.raises(ApiException) as caught:  # its token died with the change
        api.get_user_ips()
    assert json.loads(caught.value.body)["errors"][0]["error_code"] == "UDAPI100050"
