"""Fixtures for the show/status tests: a tiny public-IP server, custom-config bots, and a
way to run a coroutine on the bot's own event loop (its database lives there)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.bot_runner import InProcessBot, settings_from_env
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.slack_requests import post_signed, slash_command_body

T = TypeVar("T")


class IpServer:
    """Answers GET / with `body` (plain text) and `status`; counts the requests."""

    def __init__(self) -> None:
        self.body = "203.0.113.7\n"
        self.status = 200
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.hits += 1
                payload = server.body.encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def ip_server() -> Iterator[IpServer]:
    server = IpServer()
    yield server
    server.stop()


@pytest.fixture
def make_bot(env: dict[str, str], clock: MutableClock) -> Iterator[Callable[..., InProcessBot]]:
    """Start a bot with `env` plus overrides (stopped at the end of the test)."""
    started: list[InProcessBot] = []

    def start(**overrides: str) -> InProcessBot:
        running = InProcessBot(settings_from_env({**env, **overrides}), clock=clock).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def run_on_bot(bot: InProcessBot, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    """Run `coro` on the bot's event loop (its async database is bound to that loop)."""
    loop: asyncio.AbstractEventLoop = bot.server.servers[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


@dataclass
class Answer:
    http: httpx.Response
    acked_at: float
    call: SlackCall

    @property
    def text(self) -> str:
        return str(self.call.params.get("text", ""))

    @property
    def blob(self) -> str:
        return self.call.text_blob()


def ask(
    bot: InProcessBot,
    http: httpx.Client,
    fake_slack: FakeSlack,
    text: str,
    *,
    key: str,
    timeout: float = 10.0,
) -> Answer:
    """Send `/staticip <text>` signed, wait for the answer at the response_url."""
    body = slash_command_body(text, response_url=fake_slack.response_url(key))
    response = post_signed(http, bot.base_url, body)
    acked_at = time.monotonic()
    assert response.status_code == 200, response.text
    call = fake_slack.wait_for_response(key, timeout=timeout)
    return Answer(response, acked_at, call)
