"""Fixtures every suite shares: fake Slack, the Upstox emulator, databases, the running bot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bot_runner import InProcessBot, bot_env, settings_from_env
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack

_AMBIENT_PREFIXES = ("SLACK_", "UPSTOX_")
_AMBIENT_NAMES = {
    "DATABASE_URL",
    "BOT_SECRET_KEY",
    "APPROVAL_TTL",
    "PUBLIC_IP_URL",
    "HOST",
    "PORT",
    "LOG_LEVEL",
}


@pytest.fixture(autouse=True)
def _no_ambient_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bolt and pydantic-settings read the environment: a developer's own variables must not
    leak into a test."""
    for name in list(os.environ):
        if name.startswith(_AMBIENT_PREFIXES) or name in _AMBIENT_NAMES:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def env(fake_slack: FakeSlack, sqlite_url: str) -> dict[str, str]:
    """A valid configuration; Upstox points at a closed port unless a test brings the emulator."""
    return bot_env(
        slack_api_url=fake_slack.api_url,
        upstox_base_url="http://127.0.0.1:9",
        database_url=sqlite_url,
    )


@pytest.fixture
def bot(env: dict[str, str], clock: MutableClock) -> Iterator[InProcessBot]:
    running = InProcessBot(settings_from_env(env), clock=clock).start()
    yield running
    running.stop()
