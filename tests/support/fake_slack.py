"""A fake Slack Web API: a real threaded HTTP server on 127.0.0.1 that records every call.

It answers the methods the bot uses the way Slack does (`{"ok": true, ...}` JSON), serves
response_url posts under /resp/<id>, and can be told to fail a method (error or 429).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class SlackCall:
    """One request the bot made: an API method (`chat.postMessage`) or a response_url post."""

    method: str
    params: dict[str, Any]
    token: str | None
    response_url_id: str | None = None
    peer_port: int | None = None
    """The client's source port: equal ports mean one kept-alive connection."""
    at: float = field(default_factory=time.monotonic)

    def text_blob(self) -> str:
        """Everything a human could see in this call, for content assertions."""
        return json.dumps(self.params, ensure_ascii=False)


def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    # The SDK form-encodes lists/dicts as JSON strings (blocks, view, attachments).
    for key in ("blocks", "view", "attachments"):
        value = params.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.usergroups: dict[str, list[str]] = {}
        # What auth.test reports in its `x-oauth-scopes` header, as Slack does.
        self.scopes: list[str] = ["chat:write", "commands", "usergroups:read"]
        # Set to e.g. "invalid_auth": every Web API call is refused as with a dead token.
        self.token_error: str | None = None
        # Channels the bot is not a member of (conversations.info answers is_member false).
        self.not_member_of: set[str] = set()
        # What apps.connections.open answers (a FakeSocketMode's ws:// URL), for Socket Mode.
        self.socket_mode_url: str | None = None
        self._failures: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self._ts = itertools.count(1)
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, key: str = "1") -> str:
        return f"{self.base_url}/resp/{key}"

    # -- test controls -----------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        error: str = "internal_error",
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._cond:
            queue = self._failures.setdefault(method, [])
            queue.extend([(status, {"ok": False, "error": error}, headers)] * times)

    def reset(self) -> None:
        with self._cond:
            self.calls.clear()
            self._failures.clear()

    # -- queries -----------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[SlackCall]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def responses(self, key: str | None = None) -> list[SlackCall]:
        with self._cond:
            return [
                c
                for c in self.calls
                if c.method == "response_url" and (key is None or c.response_url_id == key)
            ]

    def wait_for(self, predicate: Callable[[list[SlackCall]], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate(calls) is truthy and return its value; fail after timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self.calls))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    methods = [c.method for c in self.calls]
                    raise AssertionError(f"condition not met in {timeout}s; calls: {methods}")
                self._cond.wait(remaining)

    def wait_for_call(
        self,
        method: str,
        where: Callable[[SlackCall], bool] = lambda call: True,
        timeout: float = 10.0,
    ) -> SlackCall:
        found: SlackCall = self.wait_for(
            lambda calls: next((c for c in calls if c.method == method and where(c)), None),
            timeout,
        )
        return found

    def wait_for_response(self, key: str = "1", timeout: float = 10.0) -> SlackCall:
        return self.wait_for_call("response_url", lambda call: call.response_url_id == key, timeout)

    # -- the server --------------------------------------------------------------------------
    def _record(self, call: SlackCall) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._cond:
            self.calls.append(call)
            queue = self._failures.get(call.method)
            failure = queue.pop(0) if queue else None
            self._cond.notify_all()
        if failure is not None:
            return failure
        if self.token_error is not None and call.method != "response_url":
            return 200, {"ok": False, "error": self.token_error}, {}
        if call.method == "auth.test":
            return 200, self._answer(call), {"x-oauth-scopes": ",".join(self.scopes)}
        return 200, self._answer(call), {}

    def _answer(self, call: SlackCall) -> dict[str, Any]:
        p = call.params
        channel = p.get("channel", "C0FAKE")
        if call.method == "response_url":
            return {"ok": True}
        if call.method == "auth.test":
            return {"ok": True, "team_id": "T0FAKE", "user_id": "UBOT", "bot_id": "B0FAKE"}
        if call.method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": p.get("text")}}
        if call.method == "chat.update":
            return {"ok": True, "channel": channel, "ts": p.get("ts"), "text": p.get("text")}
        if call.method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}
        if call.method == "chat.getPermalink":
            ts = str(p.get("message_ts", "")).replace(".", "")
            return {
                "ok": True,
                "channel": channel,
                "permalink": f"https://fake.slack.com/archives/{channel}/p{ts}",
            }
        if call.method in ("views.open", "views.update", "views.publish", "views.push"):
            view = p.get("view") if isinstance(p.get("view"), dict) else {}
            return {"ok": True, "view": {"id": "V0FAKE", "hash": "h1", **view}}
        if call.method == "apps.connections.open":
            if self.socket_mode_url is None:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"ok": True, "url": self.socket_mode_url}
        if call.method == "conversations.info":
            return {
                "ok": True,
                "channel": {"id": channel, "is_member": channel not in self.not_member_of},
            }
        if call.method == "usergroups.users.list":
            group = p.get("usergroup", "")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.usergroups[group])}
        return {"ok": True}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                content_type = self.headers.get("Content-Type", "")
                if "json" in content_type:
                    params = json.loads(raw) if raw else {}
                else:
                    params = dict(parse_qsl(raw, keep_blank_values=True))
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") if auth else None
                if self.path.startswith("/resp/"):
                    key = self.path.removeprefix("/resp/")
                    call = SlackCall("response_url", params, token, response_url_id=key)
                elif self.path.startswith("/api/"):
                    method, _, query = self.path.removeprefix("/api/").partition("?")
                    # GET methods (usergroups.users.list) send their arguments in the query.
                    params = {**dict(parse_qsl(query, keep_blank_values=True)), **params}
                    call = SlackCall(method, _decode_json_fields(params), token)
                else:
                    self.send_error(404)
                    return
                call.peer_port = self.client_address[1]
                status, body, headers = fake._record(call)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        return Handler
