"""Small tools for the Upstox tests: raw HTTP next to the client, a notifier receiver."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bot.upstox.emulator import EmulatorServer


def raw(
    emulator: EmulatorServer, method: str, path: str, token: str | None = None, **kwargs: Any
) -> httpx.Response:
    """One request straight to the emulator, to check the wire format itself."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=emulator.base_url, timeout=5.0) as http:
        return http.request(method, path, headers=headers, **kwargs)


def admin(emulator: EmulatorServer, method: str, path: str, **kwargs: Any) -> Any:
    with httpx.Client(base_url=f"{emulator.base_url}/_emulator", timeout=5.0) as http:
        response = http.request(method, path, **kwargs)
    response.raise_for_status()
    return response.json()


def error_codes(response: httpx.Response) -> list[str]:
    return [entry["error_code"] for entry in response.json()["errors"]]


def closed_port_url() -> str:
    """A URL nobody listens on: connecting is refused before anything is sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class NotifierReceiver:
    """The app's notifier webhook: records what Upstox POSTs to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"ok"}')
                receiver.arrived.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/upstox/notifier"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> NotifierReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
