"""Upstox fixtures: the session-wide emulator (tests/conftest.py) with blank state per test,
a token and a client with short timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from bot.upstox import UpstoxClient
from bot.upstox.emulator import EmulatorServer


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The shared emulator with blank state: no registered IPs, unlike the suite-wide
    `emulator` fixture (the client and emulator tests set what they need)."""
    emulator_server.state.reset()
    yield emulator_server
    emulator_server.state.reset()


@pytest.fixture
def token(emulator: EmulatorServer) -> SecretStr:
    return SecretStr(emulator.state.issue_token().value)


@pytest.fixture
async def client(emulator: EmulatorServer) -> AsyncIterator[UpstoxClient]:
    """Short timeout and tiny backoff keep failure paths fast."""
    async with UpstoxClient(
        emulator.base_url, timeout=0.3, read_attempts=3, backoff_base=0.01
    ) as upstox:
        yield upstox
