"""A fake of Slack's Socket Mode: a real WebSocket server on 127.0.0.1 (aiohttp, in its own
thread and event loop) speaking the protocol the way Slack does.

The fake Web API's `apps.connections.open` answers `url` (see `FakeSlack.socket_mode`);
each connection gets `hello`; `send` delivers an envelope to the current connection and
returns its `envelope_id`; the app's acks (`{"envelope_id": …, "payload": …}`) are
recorded per id; `disconnect` asks for a refresh the way Slack does before it rotates a
connection (a `disconnect` message, then the socket closes), so the client must call
`apps.connections.open` again and reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

from aiohttp import WSMsgType, web


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: dict[str, dict[str, Any]] = {}
        self.sent: dict[str, dict[str, Any]] = {}
        self.connections = 0
        self.tokens: list[str | None] = []
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._current: web.WebSocketResponse | None = None
        self._open: set[web.WebSocketResponse] = set()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> FakeSocketMode:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake Socket Mode server did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            for ws in list(self._open):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/link/?ticket=fake"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        self._loop.run_forever()

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._open.add(ws)
        with self._cond:
            self.connections += 1
            self._current = ws
            self._cond.notify_all()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
                "connection_info": {"app_id": "A0FAKE"},
            }
        )
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                if "envelope_id" in data:
                    with self._cond:
                        self.acks[data["envelope_id"]] = data
                        self._cond.notify_all()
        self._open.discard(ws)
        with self._cond:
            if self._current is ws:
                self._current = None
            self._cond.notify_all()
        return ws

    # -- test controls -----------------------------------------------------------------
    def wait_connected(self, connections: int = 1, timeout: float = 10.0) -> None:
        self._wait(lambda: self.connections >= connections and self._current is not None, timeout)

    def send(
        self, kind: str, payload: dict[str, Any], *, then_drop: bool = False, **extra: Any
    ) -> str:
        """Deliver one envelope (`slash_commands`, `interactive`, `events_api`).
        `then_drop`: rotate the connection right behind it, so its ack is likely lost."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
            **extra,
        }
        self._deliver(envelope, then_drop=then_drop)
        return envelope_id

    def redeliver_unacked(self) -> list[str]:
        """What Slack does with an envelope nobody acked: send it again (to the current
        connection), as a retry."""
        unacked = [e for i, e in self.sent.items() if i not in self.acks]
        for envelope in unacked:
            retry = {
                **envelope,
                "retry_attempt": envelope["retry_attempt"] + 1,
                "retry_reason": "timeout",
            }
            self._deliver(retry)
        return [e["envelope_id"] for e in unacked]

    def _deliver(self, envelope: dict[str, Any], *, then_drop: bool = False) -> None:
        with self._cond:
            ws = self._current
            self.sent[envelope["envelope_id"]] = envelope
        if ws is None:
            raise AssertionError("no Socket Mode connection to send on")

        async def deliver() -> None:
            await ws.send_json(envelope)
            if then_drop:
                await ws.send_json({"type": "disconnect", "reason": "refresh_requested"})
                await ws.close()

        asyncio.run_coroutine_threadsafe(deliver(), self._loop).result(5)

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        self._wait(lambda: envelope_id in self.acks, timeout)
        return self.acks[envelope_id]

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """What Slack does to rotate a connection: a `disconnect` message, then close."""
        with self._cond:
            ws = self._current
        if ws is None:
            raise AssertionError("no Socket Mode connection to drop")

        async def drop() -> None:
            await ws.send_json({"type": "disconnect", "reason": reason})
            await ws.close()

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(5)

    def _wait(self, predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fake Socket Mode: condition not met in {timeout}s")
                self._cond.wait(remaining)
