"""Lean HTTP/1.1 on the benchmark's own event loop: a client for signed commands and a fake
Slack that records when each answer reaches its response_url.

Why not httpx and tests/support/fake_slack.FakeSlack: measured on the 2-core machine they
cost the load generator ~9 ms of CPU per command (httpx, and FakeSlack's handler threads
fighting the load generator for the GIL), four times what the server spends, so at
concurrency 50 the figures measured the harness. These speak just enough HTTP/1.1 for
loopback (Content-Length bodies, keep-alive or `Connection: close`) at a few hundred
microseconds per command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

_AUTH_TEST = {"ok": True, "team_id": "T0FAKE", "user_id": "UBOT", "bot_id": "B0FAKE"}


@dataclass
class Arrival:
    at: float  # time.monotonic()
    params: dict[str, Any]


async def _read_message(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return lines[0], headers, body


class SlackSink:
    """Fake Slack: response_url posts under /resp/<key> are recorded with their arrival time;
    Web API calls under /api/<method> get `{"ok": true, ...}` (auth.test answers the ids)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, Arrival] = {}
        self.api_calls: list[str] = []
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._server: asyncio.Server | None = None
        self.base_url = ""

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, key: str) -> str:
        return f"{self.base_url}/resp/{key}"

    async def start(self) -> SlackSink:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait(self, keys: list[str], timeout: float) -> None:
        """Wait until every key has arrived, or the timeout; never raises on timeout."""
        loop = asyncio.get_running_loop()
        futures = []
        for key in keys:
            if key not in self.arrivals:
                futures.append(self._waiters.setdefault(key, loop.create_future()))
        if futures:
            await asyncio.wait(futures, timeout=timeout)
        for key in keys:
            self._waiters.pop(key, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request_line, headers, body = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                at = time.monotonic()
                path = request_line.split(" ")[1] if " " in request_line else ""
                answer: dict[str, Any] = {"ok": True}
                if path.startswith("/resp/"):
                    self._record(path.removeprefix("/resp/"), at, headers, body)
                elif path.startswith("/api/"):
                    method = path.removeprefix("/api/").split("?", 1)[0]
                    self.api_calls.append(method)
                    if method == "auth.test":
                        answer = _AUTH_TEST
                    else:
                        answer = {"ok": True, "channel": "C0FAKE", "ts": f"{at:.6f}"}
                payload = json.dumps(answer).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                if headers.get("connection", "").lower() == "close":
                    return
        finally:
            writer.close()

    def _record(self, key: str, at: float, headers: dict[str, str], body: bytes) -> None:
        text = body.decode("utf-8", "replace")
        if "json" in headers.get("content-type", ""):
            params = json.loads(text) if text else {}
        else:
            params = dict(parse_qsl(text))
        self.arrivals.setdefault(key, Arrival(at, params))
        waiter = self._waiters.get(key)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Connection:
    """One HTTP/1.1 connection that POSTs pre-built requests: kept alive between requests,
    or, for a request built with `close=True`, closed by the server after its answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @staticmethod
    def request(
        host: str, path: str, body: str, headers: dict[str, str], *, close: bool = False
    ) -> bytes:
        raw = body.encode()
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(raw)}\r\n"
        if close:
            head += "Connection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return head.encode() + b"\r\n" + raw

    async def post(self, request: bytes, *, time_connect: bool = False) -> tuple[int, float, float]:
        """Send; return (status, started, answered) in time.monotonic() seconds. With
        `time_connect`, `started` is taken before the TCP connection is opened (when one is),
        so the time includes the handshake and the server's accept. A reused connection the
        server closed meanwhile is reopened and the request re-sent (and re-timed) once."""
        for attempt in (1, 2):
            reused = self._streams is not None
            started = time.monotonic()
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._streams
            if not time_connect:
                started = time.monotonic()
            try:
                writer.write(request)
                status_line, headers, _ = await _read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if reused and attempt == 1:
                    continue
                raise
            answered = time.monotonic()
            if headers.get("connection", "").lower() == "close":
                self.close()
            return int(status_line.split(" ")[1]), started, answered
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
