"""Concurrent IP reads share one Upstox call, but never across a change of the IPs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.app import Bot, build
from bot.ist import Clock
from bot.store.models import TokenSource
from bot.upstox.emulator import EmulatorServer, Fault
from tests.conftest import REGISTERED_PRIMARY
from tests.support.bot_runner import settings_from_env

GET_IPS = "GET /v2/user/ip"


@pytest.fixture
async def services(env: dict[str, str], clock: Clock) -> AsyncIterator[Bot]:
    started = build(settings_from_env(env), clock=clock)
    await started.start()
    yield started
    await started.stop()


async def _until(predicate: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_simultaneous_reads_cost_upstox_one_call(
    services: Bot, emulator: EmulatorServer
) -> None:
    emulator.state.latency = 0.3
    results = await asyncio.gather(*(services.gateway.static_ips() for _ in range(20)))

    assert {r.primary_ip for r in results} == {REGISTERED_PRIMARY}
    assert len(emulator.state.calls_to(GET_IPS)) == 1
    # Sharing is only for reads in flight together: the next one asks Upstox again.
    await services.gateway.static_ips()
    assert len(emulator.state.calls_to(GET_IPS)) == 2


async def test_a_waiter_giving_up_does_not_cancel_the_others_read(
    services: Bot, emulator: EmulatorServer
) -> None:
    emulator.state.latency = 0.3
    impatient = asyncio.create_task(services.gateway.static_ips())
    patient = asyncio.create_task(services.gateway.static_ips())
    await _until(lambda: emulator.state.calls_to(GET_IPS))
    impatient.cancel()

    assert (await patient).primary_ip == REGISTERED_PRIMARY
    assert impatient.cancelled()
    assert len(emulator.state.calls_to(GET_IPS)) == 1


async def test_a_read_begun_before_a_change_is_never_shared_after_it(
    services: Bot, emulator: EmulatorServer
) -> None:
    emulator.state.add_fault(Fault(route=GET_IPS, kind="timeout", hang_seconds=5))
    stale = asyncio.create_task(services.gateway.static_ips())
    await _until(lambda: emulator.state.calls_to(GET_IPS))

    await services.gateway.update_static_ips("203.0.113.7", None)
    # Upstox logged every session out; log in again, as after any change.
    fresh_token = emulator.state.issue_token().value
    await services.tokens.store(SecretStr(fresh_token), user_id=None, via=TokenSource.OAUTH)
    after = await asyncio.wait_for(services.gateway.static_ips(), 3)

    assert after.primary_ip == "203.0.113.7"
    assert len(emulator.state.calls_to(GET_IPS)) == 2
    assert not stale.done()  # still hanging on the pre-change read
    stale.cancel()
    emulator.state.hangs.release_all()


async def test_a_recent_read_serves_the_home_but_never_one_from_before_a_change(
    services: Bot, emulator: EmulatorServer
) -> None:
    first = await services.gateway.static_ips()
    assert await services.gateway.static_ips(max_age=60) == first
    assert len(emulator.state.calls_to(GET_IPS)) == 1  # the recent read was reused
    assert services.gateway.last_read is not None and services.gateway.last_read[0] == first

    # A change: the PUT's own answer replaces the read from before it.
    await services.gateway.update_static_ips("203.0.113.7", None)
    assert (await services.gateway.static_ips(max_age=60)).primary_ip == "203.0.113.7"
    assert len(emulator.state.calls_to(GET_IPS)) == 1
    # A plain read always asks Upstox.
    fresh_token = emulator.state.issue_token().value
    await services.tokens.store(SecretStr(fresh_token), user_id=None, via=TokenSource.OAUTH)
    assert (await services.gateway.static_ips()).primary_ip == "203.0.113.7"
    assert len(emulator.state.calls_to(GET_IPS)) == 2
