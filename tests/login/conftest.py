"""Bots whose UPSTOX_REDIRECT_URI and notifier URL point at their own (real) port, with the
emulator's app registered with the same URLs, so a browser-like client can log in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

from bot.config import Settings
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import InProcessBot, settings_from_env
from tests.support.clock import MutableClock

MakeBot = Callable[..., InProcessBot]


@pytest.fixture
def make_bot(
    env: dict[str, str], emulator: EmulatorServer, clock: MutableClock
) -> Iterator[MakeBot]:
    """Start a bot on a port bound first; `**overrides` are extra environment variables."""
    started: list[InProcessBot] = []

    def make(**overrides: str) -> InProcessBot:
        def settings_for(port: int) -> Settings:
            base = f"http://127.0.0.1:{port}"
            redirect_uri = f"{base}/upstox/callback"
            answer = httpx.post(
                f"{emulator.base_url}/_emulator/config",
                json={"redirect_uri": redirect_uri, "notifier_url": f"{base}/upstox/notifier"},
                timeout=5,
            )
            answer.raise_for_status()
            values = {**env, "UPSTOX_REDIRECT_URI": redirect_uri}
            values.update({k.upper(): v for k, v in overrides.items()})
            return settings_from_env(values)

        bot = InProcessBot.with_bound_port(settings_for, clock=clock).start()
        started.append(bot)
        return bot

    yield make
    for bot in reversed(started):
        bot.stop()


@pytest.fixture
def login_bot(make_bot: MakeBot) -> InProcessBot:
    return make_bot()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record, DEBUG included, so tests can prove no token was ever logged."""
    caplog.set_level(logging.DEBUG)
    return caplog
