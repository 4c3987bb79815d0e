"""A trading system's token webhook: verifies every delivery's signature the way the README
tells consumers to, answers the statuses a test scripts, and remembers what it received."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    token: str
    issued_at: str
    signature_ok: bool
    status: int
    payload: dict[str, Any]
    headers: dict[str, str]
    body: bytes


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """The consumer's check, as in the README: same HMAC, compared in constant time."""
    expected = hmac.new(secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256)
    return hmac.compare_digest(f"v1={expected.hexdigest()}", signature)


class WebhookServer:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        # Statuses to answer, in order; once used up, `default_status`.
        self.script: list[int] = []
        self.default_status = 200
        self.received: list[Received] = []
        self._cond = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify(
                    server.secret,
                    self.headers.get("X-Staticip-Timestamp", ""),
                    body,
                    self.headers.get("X-Staticip-Signature", ""),
                )
                payload = json.loads(body)
                with server._cond:
                    status = server.script.pop(0) if server.script else server.default_status
                    if not ok:
                        status = 401
                    server.received.append(
                        Received(
                            payload["access_token"],
                            payload["issued_at"],
                            ok,
                            status,
                            payload,
                            dict(self.headers.items()),
                            body,
                        )
                    )
                    server._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/upstox-token"

    def snapshot(self) -> list[Received]:
        with self._cond:
            return list(self.received)

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"webhook: condition not met; got {self.received}")
                self._cond.wait(left)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
