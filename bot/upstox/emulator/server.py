"""A local Upstox emulator: a real HTTP server that behaves as the Upstox docs describe.

Use it to run the bot, or its tests, without touching the real account and without
risking the week's only IP change.

Run it::

    python -m bot.upstox.emulator --port 8765          # or: staticip-bot emulator
    # prints the base URL and a seed access token

Point the bot at it::

    UPSTOX_BASE_URL=http://127.0.0.1:8765
    UPSTOX_CLIENT_ID=emulator-api-key              # must match --client-id
    UPSTOX_CLIENT_SECRET=emulator-api-secret       # must match --client-secret
    UPSTOX_REDIRECT_URI=http://127.0.0.1:3000/upstox/callback   # must match --redirect-uri
    UPSTOX_ACCESS_TOKEN=<the seed token it printed>

Several Upstox users (accounts): the flags above describe the first, default user; more
come from ``--users users.json``, a JSON list of objects shaped like the body of
``POST /_emulator/users`` (below), e.g.::

    [{"user_id": "EMU002", "name": "Second Trader", "client_id": "second-key",
      "client_secret": "second-secret", "redirect_uri": "http://127.0.0.1:3000/upstox/callback",
      "notifier_url": null, "primary_ip": "203.0.113.20", "last_changed_at": "2026-04-03T10:00",
      "apps": [{"client_id": "second-algo", "client_secret": "s", "redirect_uri": "..."}],
      "seed_token": "optional; else a random one is printed"}]

It prints a seed token per user (``seed access token for EMU002: ...``). Each user has its
own main app and extra apps (client_ids are unique across users), registered IPs and so
its own week lock, IP access, tokens (a PUT invalidates only its user's tokens),
rate-limit windows and PUT-in-flight slot. A bearer token decides whose IPs and profile
``/v2/user/*`` read and change; the login dialog, token exchange and Access Token Request
find the user by the app's client_id. The week rule, rate-limit numbers, ``absent_fields``,
``latency``, ``put_delay`` and the clock are Upstox-wide.

What it implements:

- ``GET``/``PUT /v2/user/ip``: validation (UDAPI1182 missing primary, 1183 invalid IP,
  1184 primary equals secondary), the weekly rule (UDAPI1185; ``--week-rule``:
  ``calendar_week``, the default and the documented rule, allows the next change from the
  first Monday 00:00 IST after the last one; ``rolling_7_days`` only 7 days after it; also
  ``POST /_emulator/config {"week_rule": ...}``), UDAPI1186
  when two updates overlap (see ``put_delay``), and after a successful PUT
  ``access_tokens_invalidated: true`` with every token of the user dead, the caller's too.
  Omitting ``secondary_ip`` or sending ``null`` keeps the registered secondary.
- ``GET /v2/user/profile``, ``DELETE /v2/logout``.
- ``GET /v2/login/authorization/dialog``: checks client_id and redirect_uri (UDAPI100068),
  then 302 to the redirect URI with a fresh single-use ``code`` and the ``state``.
- ``POST /v2/login/authorization/token``: form exchange, the code is burnt even when the
  exchange fails; flat JSON answer. Tokens expire at 03:30 IST after issue.
- ``POST /v3/login/auth/token/request/{client_id}`` (Access Token Request); approving it
  through the admin API POSTs the token payload to the configured notifier URL.
- The error envelope (snake_case plus the deprecated camelCase twins) and the standard
  rate limit (50/s, 500/min, 2000/30 min per user and API: 429 UDAPI10005).
- Timestamps as ``YYYY-MM-DD HH:MM:SS`` IST; never-set fields are omitted.
- HTTP statuses per UDAPI118x code are not documented; the emulator uses 400 for input
  errors, 403 for 1179-1181 and 423 for 1185/1186. Clients must branch on the code.

Admin API (JSON, no auth; under ``/_emulator``). Endpoints about one user take an
optional ``user_id`` (``?user_id=`` or, where the body is JSON, a ``"user_id"`` field that
wins over the query); without it they mean the first (default) user. An unknown user_id
answers 404 ``{"detail": "unknown user_id '...'"}``.

- ``POST /reset``: back to the start-up users, config and IPs; forgets users added since,
  tokens, calls, faults.
- ``GET /users``: every user, each shaped like ``GET /state``'s per-user part.
- ``POST /users`` ``{"user_id", "name"?, "email"?, "client_id", "client_secret",
  "redirect_uri", "notifier_url"?, "primary_ip"?, "secondary_ip"?,
  "primary_ip_updated_at"?, "secondary_ip_updated_at"?, "last_changed_at"? (default for
  both times of the IPs given), "apps"?: [{"client_id", "client_secret", "redirect_uri",
  "notifier_url"?}], "ip_access"?, "seed_token"?, "issue_token"?: bool}``: add a user;
  answers ``GET /state?user_id=`` of it, plus ``"access_token"`` when ``issue_token``.
  409 when the user_id or a client_id is taken.
- ``GET /state`` (``?user_id=``): the user's ``user_id``, ``config``, ``apps``, ``ips``,
  ``next_change_allowed_at``, ``ip_access``, ``put_in_flight``, ``tokens`` (hints only),
  ``pending_token_requests``; the Upstox-wide ``now``, ``week_rule``, ``absent_fields``,
  ``latency``, ``put_delay``, ``faults``, ``rate_limits``; ``users``: every user's part.
- ``POST /ips`` ``{"user_id"?, "primary_ip", "secondary_ip", "primary_ip_updated_at", ...}``:
  set a user's registered IPs (ISO times; naive means IST). Does not touch tokens.
- ``POST /clock`` ``{"now": iso, "frozen": bool}`` or ``{"advance_seconds": n}``.
- ``POST /tokens`` ``{"issued_at": iso?, "user_id"?, "client_id"?}``: issue a token of the
  user (for its main app, or the given app of that user); answers it with its expiry.
- ``POST /faults`` ``{"user_id"?, "latency": s, "put_delay": s, "faults": [{"route":
  "PUT /v2/user/ip", "kind": "status"|"timeout"|"drop"|"commit_then_drop"|
  "commit_then_timeout", "status": 503, "count": 1, "error_code": ..., "message": ...,
  "body": ..., "retry_after": s, "hang_seconds": s, "user_id"?}]}``; ``DELETE /faults``
  clears them. Routes are ``"METHOD /path"`` as in the list above (``POST
  /v3/login/auth/token/request``), or ``*``. A fault with a user_id (its own, else the
  body's, else ``?user_id=``) only hits that user's calls (by bearer token, else by the
  client_id the call names); without one it hits anyone's, as with a single user.
  ``latency`` and ``put_delay`` are Upstox-wide.
- ``POST /config`` (``?user_id=``) ``{"user_id"?, "client_id", "client_secret",
  "redirect_uri", "notifier_url", "name", "email",
  "ip_access": "ok"|"not_allowed"|"app_inactive"|"not_available"}`` for the user, and the
  Upstox-wide ``"absent_fields": "omit"|"null", "rate_limits": [[window_s, limit], ...],
  "week_rule"``.
- ``POST /apps`` ``{"user_id"?, "client_id", "client_secret", "redirect_uri",
  "notifier_url"}``: another Upstox app of the user (a trading system's); its tokens die
  with the user's.
- ``POST /token-requests/approve`` (``?client_id=`` for one app's, ``?user_id=`` for one
  user's apps): the user approves the pending Access Token Request.
- ``GET /calls`` (``?user_id=`` for one user's; ``DELETE`` clears): every API call with
  method, path, route, status, outcome, fault, ``user_id`` (whose call it was: the bearer
  token's user, else the owner of the client_id it names; null if neither is known) and,
  for ``PUT /v2/user/ip``, the body.

In tests use ``EmulatorServer`` (port 0, background thread) and its ``.state``.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import socket
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn

from bot.upstox.emulator.admin import UserBody
from bot.upstox.emulator.app import create_app
from bot.upstox.emulator.rules import DEFAULT_WEEK_RULE, WEEK_RULES
from bot.upstox.emulator.state import (
    AppConfig,
    EmulatorState,
    ExtraApp,
    Fault,
    RegisteredIps,
    UserSpec,
)

__all__ = [
    "AppConfig",
    "EmulatorServer",
    "EmulatorState",
    "ExtraApp",
    "Fault",
    "RegisteredIps",
    "UserBody",
    "UserSpec",
    "create_app",
    "load_users",
    "main",
]

log = logging.getLogger(__name__)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0: the OS picks a free one).

    Created with proto=IPPROTO_TCP on purpose: asyncio only sets TCP_NODELAY on accepted
    sockets whose proto says TCP, and without it every answer waits ~40 ms for Nagle.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._started_event.set()


class EmulatorServer:
    """Serves an emulator on 127.0.0.1 from a background thread.

    >>> with EmulatorServer() as emulator:
    ...     emulator.base_url, emulator.state
    """

    def __init__(
        self,
        state: EmulatorState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 10.0,
    ) -> None:
        self.state = state or EmulatorState()
        self._host = host
        self._port = port
        self._start_timeout = start_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.base_url = ""

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("already started")
        # Bind first, so the port (also for port 0) is known before serving.
        self._socket = listening_socket(self._host, self._port)
        port = self._socket.getsockname()[1]
        self.base_url = f"http://{_url_host(self._host)}:{port}"
        started = threading.Event()
        config = uvicorn.Config(
            create_app(self.state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config, started)
        self._thread = threading.Thread(
            target=self._serve, name=f"upstox-emulator-{port}", daemon=True
        )
        self._thread.start()
        if not started.wait(self._start_timeout) or not self._server.started:
            self.stop()
            raise RuntimeError(f"emulator did not start within {self._start_timeout}s")
        return self

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException:
            log.exception("emulator server crashed")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self.state.hangs.release_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _parser() -> argparse.ArgumentParser:
    defaults = AppConfig()
    parser = argparse.ArgumentParser(
        prog="staticip-bot emulator", description="Run a local Upstox emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--client-id", default=defaults.client_id)
    parser.add_argument("--client-secret", default=defaults.client_secret)
    parser.add_argument("--redirect-uri", default=defaults.redirect_uri)
    parser.add_argument("--notifier-url", default=defaults.notifier_url)
    parser.add_argument("--user-id", default=defaults.user_id)
    parser.add_argument(
        "--users",
        type=Path,
        default=None,
        metavar="USERS_JSON",
        help="a JSON list of more users, shaped like POST /_emulator/users bodies",
    )
    parser.add_argument("--primary-ip", default=None)
    parser.add_argument("--secondary-ip", default=None)
    parser.add_argument("--seed-token", default=None, help="default: a random token")
    parser.add_argument(
        "--week-rule",
        choices=WEEK_RULES,
        default=DEFAULT_WEEK_RULE,
        help="when a second change is refused with UDAPI1185 (default: %(default)s)",
    )
    return parser


def load_users(path: Path) -> list[UserSpec]:
    """More users from a JSON file: a list of `POST /_emulator/users` bodies."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of users")
    return [UserBody.model_validate(entry).spec() for entry in raw]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        more_users = load_users(args.users) if args.users else []
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        parser.error(f"--users: {exc}")
    more_users = [
        replace(spec, seed_token=spec.seed_token or secrets.token_urlsafe(32))
        for spec in more_users
    ]
    config = AppConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uri=args.redirect_uri,
        notifier_url=args.notifier_url,
        user_id=args.user_id,
    )
    seed_token = args.seed_token or secrets.token_urlsafe(32)
    try:
        state = EmulatorState(
            config,
            ips=RegisteredIps(primary_ip=args.primary_ip, secondary_ip=args.secondary_ip),
            seed_token=seed_token,
            week_rule=args.week_rule,
            users=more_users,
        )
    except ValueError as exc:  # a user_id or client_id given twice
        parser.error(f"--users: {exc}")
    sock = listening_socket(args.host, args.port)
    port = sock.getsockname()[1]
    # A fake token for a fake server: printing it is the point.
    base_url = f"http://{_url_host(args.host)}:{port}"
    print(f"Upstox emulator listening on {base_url}", flush=True)
    print(f"UPSTOX_BASE_URL={base_url}", flush=True)
    print(f"seed access token: {seed_token}", flush=True)
    for spec in more_users:
        print(f"seed access token for {spec.config.user_id}: {spec.seed_token}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(state), log_level="info", lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it already handled by shutting down
    finally:
        state.hangs.release_all()
        sock.close()
    return 0
