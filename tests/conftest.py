"""Fixtures every suite shares: fake Slack, the Upstox emulator, databases, the running bot."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from bot.ist import IST
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import InProcessBot, bot_env, settings_from_env
from tests.support.clock import MutableClock
from tests.support.databases import database_url
from tests.support.fake_slack import FakeSlack
from tests.support.public_ip_server import PublicIpServer
from tests.support.secret_watch import STATIC_SECRETS, collecting_logs, leaks, slack_texts

# What the emulator has registered at the start of every test: changed on a Friday in
# 2025, so the week window is open whatever today's date is.
REGISTERED_PRIMARY = "122.181.101.247"
REGISTERED_AT = datetime(2025, 10, 3, 17, 17, 50, tzinfo=IST)

_AMBIENT_PREFIXES = ("SLACK_", "UPSTOX_")
_AMBIENT_NAMES = {
    "DATABASE_URL",
    "BOT_SECRET_KEY",
    "APPROVAL_TTL",
    "PUBLIC_IP_URL",
    "HOST",
    "PORT",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "METRICS_ENABLED",
    "STATICIP_CONFIG",
}


@pytest.fixture(autouse=True)
def _no_ambient_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bolt and pydantic-settings read the environment: a developer's own variables must not
    leak into a test."""
    for name in list(os.environ):
        if name.startswith(_AMBIENT_PREFIXES) or name in _AMBIENT_NAMES:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_secret_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Suite-wide: no configured secret and no token the emulator issued appears in any log
    line, or in anything the bot sent to the fake Slack, in any test."""
    # Requested here so that they are torn down after this check, not before.
    emulator = request.getfixturevalue("emulator") if "emulator" in request.fixturenames else None
    slack = request.getfixturevalue("fake_slack") if "fake_slack" in request.fixturenames else None
    with collecting_logs() as logs:
        yield
    secrets = dict(STATIC_SECRETS)
    if emulator is not None:
        secrets.update({f"token {t[:4]}…": t for t in list(emulator.state.tokens)})
    texts = logs.lines + (slack_texts(slack) if slack is not None else [])
    found = leaks(texts, secrets)
    assert not found, "secret leaked:\n" + "\n".join(found)


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


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The running Upstox emulator with fresh state (reset also releases hung requests)."""
    emulator_server.state.reset()
    emulator_server.state.set_ips(
        REGISTERED_PRIMARY,
        None,
        primary_ip_updated_at=REGISTERED_AT,
    )
    yield emulator_server
    emulator_server.state.reset()


@pytest.fixture
def upstox_token(emulator: EmulatorServer) -> str:
    """A live token issued by the emulator; the bot is seeded with it via `env`."""
    return emulator.state.issue_token().value


@pytest.fixture
def env(
    fake_slack: FakeSlack, emulator: EmulatorServer, sqlite_url: str, upstox_token: str
) -> dict[str, str]:
    """A valid configuration against the fake Slack and the emulator, logged in to Upstox."""
    return bot_env(
        slack_api_url=fake_slack.api_url,
        upstox_base_url=emulator.base_url,
        database_url=sqlite_url,
        upstox_access_token=upstox_token,
    )


@pytest.fixture
def make_bot(env: dict[str, str], clock: MutableClock) -> Iterator[Callable[..., InProcessBot]]:
    """Start bots with `env` plus overrides, e.g. `make_bot(PUBLIC_IP_URL=...)` (all stopped
    at the end of the test)."""
    started: list[InProcessBot] = []

    def start(**overrides: str) -> InProcessBot:
        settings = settings_from_env({**env, **{k.upper(): v for k, v in overrides.items()}})
        running = InProcessBot(settings, clock=clock).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def ip_server() -> Iterator[PublicIpServer]:
    """This host's public IP as PUBLIC_IP_URL answers it; tests change `.body`."""
    server = PublicIpServer()
    yield server
    server.stop()


@pytest.fixture
def bot(env: dict[str, str], clock: MutableClock) -> Iterator[InProcessBot]:
    running = InProcessBot(settings_from_env(env), clock=clock).start()
    yield running
    running.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The bot's database on each backend: a SQLite file, then a fresh PostgreSQL schema."""
    with database_url(request.param, tmp_path) as url:
        yield url
