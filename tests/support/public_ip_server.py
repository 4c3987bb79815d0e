"""A stand-in for PUBLIC_IP_URL: answers `body` as plain text (with `status`) and remembers
the paths asked, so each replica can be given its own path and the test can tell who
checked. Tests change `body` to move "this host" to another IP."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PublicIpServer:
    def __init__(self, body: str = "198.51.100.20") -> None:
        self.body = body
        self.status = 200
        self.paths: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.paths.append(self.path)
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

    def url(self, path: str = "/") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def hits(self, path: str | None = None) -> int:
        """How many lookups reached `path` (every path when None)."""
        with self._lock:
            return len(self.paths) if path is None else self.paths.count(path)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
