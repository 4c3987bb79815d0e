"""Run the real bot for tests: in-process (uvicorn in a thread, injectable clock) or as a
subprocess (`python -m bot`, exactly as a user starts it). Both listen on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import uvicorn

from bot.app import Bot
from bot.config import Settings
from bot.ist import Clock, system_clock
from bot.upstox.emulator import listening_socket
from bot.web import create_app
from tests.support.slack_requests import SIGNING_SECRET

REPO_ROOT = Path(__file__).resolve().parents[2]

APPROVAL_CHANNEL = "CAPPROVALS"
APPROVERS = "UAPPROVER1,UAPPROVER2,SAPPROVERS"
SLACK_BOT_TOKEN = "xoxb-test-bot-token-1234567890"
# The emulator's default app (bot.upstox.emulator.state.AppConfig).
UPSTOX_CLIENT_ID = "emulator-api-key"
UPSTOX_CLIENT_SECRET = "emulator-api-secret"
BOT_SECRET_KEY = "test-bot-secret-key-0123456789abcdef0123456789"
# What tests give the token sinks (TOKEN_API_KEYS, TOKEN_WEBHOOK_SECRET).
TOKEN_API_KEY = "consumer-key-0123456789abcdef"
TOKEN_API_KEY_2 = "second-consumer-key-0123456789"
TOKEN_WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"


def bot_env(
    *,
    slack_api_url: str,
    upstox_base_url: str,
    database_url: str,
    redirect_uri: str = "http://127.0.0.1:3000/upstox/callback",
    **overrides: str,
) -> dict[str, str]:
    """A complete, valid configuration as environment variables."""
    env = {
        "HOST": "127.0.0.1",
        "PORT": "0",
        "LOG_LEVEL": "INFO",
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "SLACK_APPROVAL_CHANNEL": APPROVAL_CHANNEL,
        "SLACK_APPROVERS": APPROVERS,
        "UPSTOX_CLIENT_ID": UPSTOX_CLIENT_ID,
        "UPSTOX_CLIENT_SECRET": UPSTOX_CLIENT_SECRET,
        "UPSTOX_REDIRECT_URI": redirect_uri,
        "UPSTOX_BASE_URL": upstox_base_url,
        "UPSTOX_TIMEOUT": "3s",
        # As the README recommends; tests of an unpinned bot set it to "".
        "UPSTOX_USER_ID": "EMU001",
        "DATABASE_URL": database_url,
        "BOT_SECRET_KEY": BOT_SECRET_KEY,
        "ALLOW_NON_PUBLIC_IPS": "false",
        # No trading hours unless a test sets them: cards must not depend on the hour of
        # the day the suite runs at (tests of market hours set TRADING_HOURS themselves).
        "TRADING_HOURS": "",
    }
    env.update({k.upper(): v for k, v in overrides.items()})
    return env


def settings_from_env(env: Mapping[str, str]) -> Settings:
    return Settings(_env_file=None, **{k.lower(): v for k, v in env.items()})  # type: ignore[call-arg]


T = TypeVar("T")


class _LoopServer(uvicorn.Server):
    """Remembers its event loop, so tests can run coroutines on the bot's own loop."""

    loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)


class InProcessBot:
    """The real ASGI app under a real uvicorn server, in a background thread.

    `sock`: an already bound, listening socket to serve on (see `with_bound_port`).
    """

    def __init__(
        self, settings: Settings, clock: Clock = system_clock, sock: socket.socket | None = None
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, clock=clock)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
        self.server = _LoopServer(config)
        sockets = [sock] if sock is not None else None
        self._thread = threading.Thread(target=lambda: self.server.run(sockets), daemon=True)
        self.base_url = ""

    @classmethod
    def with_bound_port(
        cls, settings_for_port: Callable[[int], Settings], clock: Clock = system_clock
    ) -> InProcessBot:
        """Bind the port first, so settings can name it (e.g. UPSTOX_REDIRECT_URI)."""
        sock = listening_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]
        try:
            return cls(settings_for_port(port), clock=clock, sock=sock)
        except Exception:
            sock.close()
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the bot's event loop (its clients and engine live there)."""
        if self.server.loop is None:
            coro.close()
            raise RuntimeError("bot not started")
        return asyncio.run_coroutine_threadsafe(coro, self.server.loop).result(timeout)

    @property
    def services(self) -> Bot:
        """Every service of the running bot (`bot.app.Bot`)."""
        services: Bot = self.app.state.bot
        return services

    def start(self, timeout: float = 10.0) -> InProcessBot:
        self._thread.start()
        wait_until(lambda: self.server.started or not self._thread.is_alive(), timeout)
        if not self.server.started:
            raise RuntimeError("in-process bot failed to start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)


class ServerProcess:
    """`python -m <module>` in a subprocess, with its stdout collected line by line.

    Used for the bot (`BotProcess`) and, by the benchmark, for the emulator and the bare-Bolt
    baseline too.
    """

    LISTENING = re.compile(r"listening on (http://[^\s\"]+)")  # text or JSON log lines

    def __init__(
        self, module: str, env: Mapping[str, str], cwd: Path, args: list[str] | None = None
    ) -> None:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(cwd),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO_ROOT),
            **env,
        }
        self.module = module
        self.started_at = time.monotonic()
        self.ready_after: float | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *(args or [])],
            env=full_env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base_url = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def tail(self, n: int = 30) -> str:
        with self._cond:
            return "\n".join(self.lines[-n:])

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    match = pattern.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"{self.module}: no line matching {pattern.pattern}:\n{self.tail()}"
                    )
                self._cond.wait(min(remaining, 0.2))

    def wait_ready(self, timeout: float = 10.0) -> Self:
        """Wait for `/readyz` 200; `ready_after` is then the seconds since the process start."""
        self.base_url = self.wait_for_line(self.LISTENING, timeout).group(1)
        wait_until(lambda: _ready(self.base_url), timeout, interval=0.005)
        self.ready_after = time.monotonic() - self.started_at
        return self

    def wait_exit(self, timeout: float = 15.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait_exit()

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not exited within 15 s."""
        try:
            self.terminate()
        except subprocess.TimeoutExpired:
            self.kill()


class BotProcess(ServerProcess):
    """`python -m bot`, exactly as a user starts it."""

    def __init__(self, env: Mapping[str, str], cwd: Path, args: list[str] | None = None) -> None:
        super().__init__("bot", env, cwd, args)


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll a condition until it holds; raise after the timeout. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def subcommands() -> frozenset[str]:
    """The subcommands the real app answers: its command handlers plus the router's `help`."""
    from bot.app import build

    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite+aiosqlite:///:memory:",
    )
    return frozenset({*build(settings_from_env(env)).command_handlers(), "help"})
