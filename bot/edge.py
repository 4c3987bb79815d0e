"""The first thing every HTTP request meets: a body limit per path, read while streaming,
and Slack's signature checked on the raw body before anything parses it.

Nothing behind this middleware ever holds more of a body than its path allows, and no
part of an unsigned body reaches a parser or a log line: an outsider who can reach the
port can make the bot hash at most 1 MiB per request, and nothing more.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from slack_sdk.signature import SignatureVerifier
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

SLACK_BODY_LIMIT = 1024 * 1024  # Slack's own payloads stay far below this
DEFAULT_BODY_LIMIT = 8 * 1024  # health checks and the OAuth redirect carry no body at all


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class EdgeGuard:
    """Reads each body up to its path's limit (413 beyond it, before the rest is read),
    refuses a request to `slack_path` whose signature does not match its raw body (401),
    then hands the app the body it read.

    `slack_verifier` is None in Socket Mode (nothing is served at `slack_path` then).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Mapping[str, int],
        default_limit: int = DEFAULT_BODY_LIMIT,
        slack_path: str = "/slack/events",
        slack_verifier: SignatureVerifier | None = None,
    ) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default_limit = default_limit
        self.slack_path = slack_path
        self.slack_verifier = slack_verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.limits.get(path, self.default_limit)
        if _declared_length(scope) > limit:
            await _answer(send, 413, {"error": "request body too large"})
            return
        try:
            body = await _read_body(receive, limit)
        except _TooLarge:
            await _answer(send, 413, {"error": "request body too large"})
            return
        except _Disconnected:
            return
        verifier = self.slack_verifier
        if path == self.slack_path and verifier is not None and not _signed(verifier, scope, body):
            log.warning("Slack request refused: bad or missing signature (%d bytes)", len(body))
            await _answer(send, 401, {"error": "invalid request"})
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only `http.disconnect` is left

        await self.app(scope, replay, send)


def _declared_length(scope: Scope) -> int:
    """The Content-Length header's value; 0 when absent, huge when it is not a number (a
    request that lies about its length is refused as if it were too large)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 19 else 1 << 62
    return 0


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _signed(verifier: SignatureVerifier, scope: Scope, body: bytes) -> bool:
    headers = {name: value for name, value in scope["headers"]}
    timestamp = headers.get(b"x-slack-request-timestamp", b"")
    signature = headers.get(b"x-slack-signature", b"")
    if not (timestamp.isdigit() and len(timestamp) < 19 and signature):
        return False
    try:
        return verifier.is_valid(body, timestamp.decode(), signature.decode("latin-1"))
    except ValueError:  # a body that is not UTF-8 (slack_sdk decodes it to sign it)
        return False


async def _answer(send: Send, status: int, payload: dict[str, str]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of a refused body is never read: the connection cannot be reused.
                *([(b"connection", b"close")] if status == 413 else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
