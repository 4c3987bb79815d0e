"""Retry policy: reads retry a bounded number of times; the PUT is sent exactly once."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.upstox import (
    UpstoxApiError,
    UpstoxClient,
    UpstoxOutcomeUnknown,
    UpstoxRateLimited,
    UpstoxTokenInvalid,
    UpstoxUnavailable,
)
from bot.upstox.client import MAX_BACKOFF_SECONDS
from bot.upstox.emulator import EmulatorServer, Fault

GET_IP = "GET /v2/user/ip"
PUT_IP = "PUT /v2/user/ip"


def outcomes(emulator: EmulatorServer, route: str) -> list[tuple[int | None, str]]:
    return [(call.status, call.outcome) for call in emulator.state.calls_to(route)]


@pytest.mark.parametrize(
    ("fault", "first"),
    [
        (Fault(route=GET_IP, status=503, count=2), (503, "forced")),
        (Fault(route=GET_IP, status=500, count=2), (500, "forced")),
        (Fault(route=GET_IP, status=429, count=2), (429, "forced")),
        (Fault(route=GET_IP, kind="timeout", count=2), (None, "timeout")),
        (Fault(route=GET_IP, kind="drop", count=2), (None, "dropped")),
    ],
)
async def test_reads_retry_transient_failures(
    emulator: EmulatorServer,
    client: UpstoxClient,
    token: SecretStr,
    fault: Fault,
    first: tuple[int | None, str],
) -> None:
    emulator.state.set_ips("203.0.113.1")
    emulator.state.add_fault(fault)

    ips = await client.get_static_ips(token)

    assert ips.primary_ip == "203.0.113.1"
    assert outcomes(emulator, GET_IP) == [first, first, (200, "answered")]


async def test_read_retries_are_bounded(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(Fault(route=GET_IP, status=503, count=10))
    with pytest.raises(UpstoxUnavailable):
        await client.get_static_ips(token)
    assert len(emulator.state.calls_to(GET_IP)) == 3


async def test_long_retry_after_is_passed_to_the_caller_not_waited_for(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(Fault(route=GET_IP, status=429, count=5, retry_after=60))
    with pytest.raises(UpstoxRateLimited) as raised:
        await client.get_static_ips(token)
    assert raised.value.retry_after == 60
    assert len(emulator.state.calls_to(GET_IP)) == 1


async def test_read_attempts_is_configurable(emulator: EmulatorServer, token: SecretStr) -> None:
    emulator.state.add_fault(Fault(route="GET /v2/user/profile", status=429, count=10))
    async with UpstoxClient(emulator.base_url, read_attempts=5, backoff_base=0.001) as client:
        with pytest.raises(UpstoxRateLimited):
            await client.get_profile(token)
    assert len(emulator.state.calls_to("GET /v2/user/profile")) == 5


async def test_profile_retries_timeouts_too(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(Fault(route="GET /v2/user/profile", kind="timeout"))
    profile = await client.get_profile(token)
    assert profile.user_id == emulator.state.config.user_id
    assert len(emulator.state.calls_to("GET /v2/user/profile")) == 2


@pytest.mark.parametrize("status", [401, 400])
async def test_reads_do_not_retry_permanent_errors(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr, status: int
) -> None:
    emulator.state.add_fault(Fault(route=GET_IP, status=status, count=10))
    with pytest.raises((UpstoxTokenInvalid, UpstoxApiError)):
        await client.get_static_ips(token)
    assert len(emulator.state.calls_to(GET_IP)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_put_is_never_retried_on_server_errors(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr, status: int
) -> None:
    """A 5xx on the PUT may come from a gateway after the change was made: reconcile."""
    emulator.state.set_ips("203.0.113.1")
    emulator.state.add_fault(Fault(route=PUT_IP, status=status, count=5))

    with pytest.raises(UpstoxOutcomeUnknown) as caught:
        await client.update_static_ips(token, "203.0.113.10", None)

    assert caught.value.status == status
    assert outcomes(emulator, PUT_IP) == [(status, "forced")]


@pytest.mark.parametrize("kind", ["timeout", "drop"])
async def test_put_without_an_answer_is_outcome_unknown(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr, kind: str
) -> None:
    emulator.state.set_ips("203.0.113.1")
    emulator.state.add_fault(Fault(route=PUT_IP, kind=kind, count=5))

    with pytest.raises(UpstoxOutcomeUnknown):
        await client.update_static_ips(token, "203.0.113.10", None)

    assert len(emulator.state.calls_to(PUT_IP)) == 1
    # Reconciling by reading back: this time the change did not happen.
    assert (await client.get_static_ips(token)).primary_ip == "203.0.113.1"


@pytest.mark.parametrize("kind", ["commit_then_drop", "commit_then_timeout"])
async def test_put_applied_but_unanswered_is_outcome_unknown_and_reconcilable(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr, kind: str
) -> None:
    emulator.state.set_ips("203.0.113.1")
    emulator.state.add_fault(Fault(route=PUT_IP, kind=kind))

    with pytest.raises(UpstoxOutcomeUnknown):
        await client.update_static_ips(token, "203.0.113.10", "203.0.113.11")

    [put] = emulator.state.calls_to(PUT_IP)
    assert put.status == 200  # what the emulator answered, had the answer been delivered
    assert put.outcome == {"commit_then_drop": "committed_then_dropped"}.get(
        kind, "committed_then_timeout"
    )
    # The old token died with the change; a fresh login reads the applied IPs back.
    with pytest.raises(UpstoxTokenInvalid):
        await client.get_static_ips(token)
    fresh = SecretStr(emulator.state.issue_token().value)
    ips = await client.get_static_ips(fresh)
    assert (ips.primary_ip, ips.secondary_ip) == ("203.0.113.10", "203.0.113.11")
    assert len(emulator.state.calls_to(PUT_IP)) == 1


async def test_token_exchange_is_not_retried(
    emulator: EmulatorServer, client: UpstoxClient
) -> None:
    config = emulator.state.config
    emulator.state.add_fault(Fault(route="POST /v2/login/authorization/token", status=503, count=5))
    with pytest.raises(UpstoxUnavailable):
        await client.exchange_code(
            code="c",
            client_id=config.client_id,
            client_secret=SecretStr(config.client_secret),
            redirect_uri=config.redirect_uri,
        )
    assert len(emulator.state.calls_to("POST /v2/login/authorization/token")) == 1


def test_backoff_is_exponential_jittered_and_capped() -> None:
    client = UpstoxClient(backoff_base=1.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        delays = {client._backoff(attempt, None) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
    assert client._backoff(1, 5.0) == 5.0  # Retry-After is honoured
    assert client._backoff(1, 3600.0) == MAX_BACKOFF_SECONDS
    assert client._backoff(20, None) == MAX_BACKOFF_SECONDS


async def test_put_accepted_with_an_unreadable_answer_is_outcome_unknown(
    emulator: EmulatorServer, client: UpstoxClient, token: SecretStr
) -> None:
    emulator.state.add_fault(Fault(route=PUT_IP, status=200, body={"status": "success"}))
    with pytest.raises(UpstoxOutcomeUnknown):
        await client.update_static_ips(token, "203.0.113.10", None)
    assert len(emulator.state.calls_to(PUT_IP)) == 1
