"""Fixtures for the watcher tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.jobs.helpers import IpServer
from tests.support.bot_runner import InProcessBot, settings_from_env
from tests.support.clock import MutableClock


@pytest.fixture
def ip_server() -> Iterator[IpServer]:
    server = IpServer()
    yield server
    server.stop()


@pytest.fixture
def make_bot(env: dict[str, str], clock: MutableClock) -> Iterator[Callable[..., InProcessBot]]:
    """Start bots with `env` plus overrides (all stopped at the end of the test)."""
    started: list[InProcessBot] = []

    def start(**overrides: str) -> InProcessBot:
        settings = settings_from_env({**env, **{k.upper(): v for k, v in overrides.items()}})
        running = InProcessBot(settings, clock=clock).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
