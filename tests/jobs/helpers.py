"""Helpers for the watcher and App Home tests: a public-IP server whose answer the test
changes, bots with custom settings, and running a job on the bot's own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.support.bot_runner import InProcessBot
from tests.support.fake_slack import FakeSlack, SlackCall

T = TypeVar("T")


class IpServer:
    """GET / answers `body` as plain text; the test changes `body` to move this host."""

    def __init__(self, body: str = "198.51.100.20") -> None:
        self.body = body
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                payload = server.body.encode()
                self.send_response(200)
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


def on_loop(bot: InProcessBot, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    """Run `coro` on the bot's event loop (its database and clients live there)."""
    loop = bot.runtime.scheduler.loop
    assert loop is not None, "the scheduler has not started"
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def run_job(bot: InProcessBot, name: str) -> bool:
    """One run of a scheduled job, now; True when it succeeded."""
    return on_loop(bot, bot.runtime.scheduler.run_now(name))


def posts(fake_slack: FakeSlack, *needles: str) -> list[SlackCall]:
    """chat.postMessage calls whose text and blocks contain every needle."""
    return [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if all(n in c.text_blob() for n in needles)
    ]
