"""Upstox fixtures: one emulator server per session, reset before every test.

Self-contained so it can move to the shared tests/conftest.py as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from bot.upstox import UpstoxClient
from bot.upstox.emulator import EmulatorServer


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The running emulator with fresh state (reset also releases any hung request)."""
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
