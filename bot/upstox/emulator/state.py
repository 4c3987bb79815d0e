"""Everything the emulator remembers, shared by the HTTP handlers and by tests.

All methods are synchronous and guarded by one lock: the server runs in its own thread
and tests change the state from theirs.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.ist import IST, Clock, next_token_expiry, system_clock
from bot.upstox.emulator.rules import (
    DEFAULT_RATE_LIMITS,
    DEFAULT_WEEK_RULE,
    EmulatorError,
    RateLimiter,
    WeekRule,
    equal_ips_error,
    parse_ip_update,
    week_unlock_at,
)

IpAccess = Literal["ok", "not_allowed", "app_inactive", "not_available"]
AbsentStyle = Literal["omit", "null"]
FaultKind = Literal["status", "timeout", "drop", "commit_then_drop", "commit_then_timeout"]

ROUTES = (
    "GET /v2/user/ip",
    "PUT /v2/user/ip",
    "GET /v2/user/profile",
    "DELETE /v2/logout",
    "GET /v2/login/authorization/dialog",
    "POST /v2/login/authorization/token",
    "POST /v3/login/auth/token/request",
)
_TOKEN_REQUEST_PREFIX = "/v3/login/auth/token/request/"  # noqa: S105 - a path
_IP_ACCESS_ERRORS: dict[str, tuple[str, str]] = {
    "not_allowed": ("UDAPI1179", "You are not allowed to access or update this configuration"),
    "app_inactive": ("UDAPI1180", "The app linked to this token is inactive"),
    "not_available": ("UDAPI1181", "Static IP is not available for this app or account"),
}


def route_key(method: str, path: str) -> str:
    if path.startswith(_TOKEN_REQUEST_PREFIX):
        path = _TOKEN_REQUEST_PREFIX.rstrip("/")
    return f"{method.upper()} {path.rstrip('/') or '/'}"


def upstox_timestamp(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def ist_iso(moment: datetime) -> str:
    return moment.astimezone(IST).isoformat()


def epoch_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


@dataclass(frozen=True)
class AppConfig:
    """The user's single Upstox app and the account behind it."""

    client_id: str = "emulator-api-key"
    client_secret: str = "emulator-api-secret"  # noqa: S105 - a fake app's secret
    redirect_uri: str = "http://127.0.0.1:3000/upstox/callback"
    notifier_url: str | None = None
    user_id: str = "EMU001"
    user_name: str = "Emulated Trader"
    email: str = "trader@example.com"


@dataclass(frozen=True)
class ExtraApp:
    """Another Upstox app of the same user (a trading system's): its own API key, secret,
    redirect and notifier URL; its tokens die with the user's, e.g. on an IP change."""

    client_id: str
    client_secret: str
    redirect_uri: str
    notifier_url: str | None = None


@dataclass
class RegisteredIps:
    primary_ip: str | None = None
    secondary_ip: str | None = None
    primary_ip_updated_at: datetime | None = None
    secondary_ip_updated_at: datetime | None = None

    @property
    def last_change(self) -> datetime | None:
        moments = [m for m in (self.primary_ip_updated_at, self.secondary_ip_updated_at) if m]
        return max(moments) if moments else None


@dataclass
class TokenRecord:
    value: str
    user_id: str
    issued_at: datetime
    expires_at: datetime
    source: str
    revoked_at: datetime | None = None
    client_id: str | None = None

    def alive(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass
class CallRecord:
    method: str
    path: str
    route: str
    at: datetime
    status: int | None = None
    outcome: str = "answered"
    fault: str | None = None
    # The JSON body of a PUT /v2/user/ip as received (it holds no secret), else None.
    body: Any = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = ist_iso(self.at)
        return data


class Fault(BaseModel):
    """A forced misbehaviour for the next `count` calls of `route` ("*" = any API route)."""

    route: str
    kind: FaultKind = "status"
    status: int | None = None
    count: int = Field(default=1, ge=1)
    error_code: str | None = None
    message: str | None = None
    body: Any = None
    retry_after: float | None = None
    hang_seconds: float = Field(default=30.0, ge=0)


@dataclass
class PendingTokenRequest:
    client_id: str
    created_at: datetime
    expires_at: datetime


class EmulatorClock:
    """Real time plus an offset, or frozen at a moment; moved by tests."""

    def __init__(self, base: Clock = system_clock) -> None:
        self._base = base
        self._offset = timedelta()
        self._frozen_at: datetime | None = None

    def now(self) -> datetime:
        return self._frozen_at if self._frozen_at is not None else self._base() + self._offset

    def set(self, moment: datetime, *, frozen: bool = False) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=IST)
        self._offset = moment - self._base()
        self._frozen_at = moment if frozen else None

    def freeze(self, frozen: bool) -> None:
        self.set(self.now(), frozen=frozen)

    def advance(self, seconds: float) -> None:
        step = timedelta(seconds=seconds)
        if self._frozen_at is not None:
            self._frozen_at += step
        self._offset += step

    def reset(self) -> None:
        self._offset = timedelta()
        self._frozen_at = None


class Hangs:
    """Waits that end early when released: no hung request outlives a reset or shutdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if the full time passed, False if released."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), seconds)
        except TimeoutError:
            return True
        finally:
            with self._lock:
                self._waiting.discard(entry)
        return False

    def release_all(self) -> None:
        with self._lock:
            waiting = list(self._waiting)
        for loop, event in waiting:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)


class EmulatorState:
    def __init__(
        self,
        config: AppConfig | None = None,
        *,
        ips: RegisteredIps | None = None,
        seed_token: str | None = None,
        clock: Clock = system_clock,
        week_rule: WeekRule = DEFAULT_WEEK_RULE,
    ) -> None:
        self._lock = threading.RLock()
        self._initial_week_rule: WeekRule = week_rule
        self._initial_config = config or AppConfig()
        self._initial_ips = replace(ips) if ips else RegisteredIps()
        self._seed_token = seed_token
        self.clock = EmulatorClock(clock)
        self.hangs = Hangs()
        self.reset()

    def reset(self) -> None:
        """Back to the constructor's config and IPs; forget tokens, calls and faults."""
        with self._lock:
            self.hangs.release_all()
            self.clock.reset()
            self.config = self._initial_config
            self.extra_apps: dict[str, ExtraApp] = {}
            self.ips = replace(self._initial_ips)
            self.ip_access: IpAccess = "ok"
            self.absent_fields: AbsentStyle = "omit"
            self.week_rule: WeekRule = self._initial_week_rule
            self.latency = 0.0
            self.put_delay = 0.0
            self.tokens: dict[str, TokenRecord] = {}
            self.auth_codes: dict[str, datetime] = {}
            self.auth_code_apps: dict[str, str] = {}
            self.token_requests: list[PendingTokenRequest] = []
            self.faults: list[Fault] = []
            self.calls: list[CallRecord] = []
            self.rate_limiter = RateLimiter(DEFAULT_RATE_LIMITS)
            self._puts_in_flight: set[str] = set()
            if self._seed_token:
                self.issue_token(value=self._seed_token, source="seed")

    def now(self) -> datetime:
        return self.clock.now()

    # IPs --------------------------------------------------------------------------------

    def set_ips(
        self,
        primary_ip: str | None,
        secondary_ip: str | None = None,
        primary_ip_updated_at: datetime | None = None,
        secondary_ip_updated_at: datetime | None = None,
    ) -> None:
        with self._lock:
            self.ips = RegisteredIps(
                primary_ip, secondary_ip, primary_ip_updated_at, secondary_ip_updated_at
            )

    def next_change_allowed_at(self) -> datetime | None:
        with self._lock:
            last = self.ips.last_change
            rule = self.week_rule
        return week_unlock_at(last, rule) if last else None

    def ips_json(self) -> dict[str, Any]:
        with self._lock:
            ips = self.ips
            data: dict[str, Any] = {"user_id": self.config.user_id}
            values = {
                "primary_ip": ips.primary_ip,
                "secondary_ip": ips.secondary_ip,
                "primary_ip_updated_at": _maybe_timestamp(ips.primary_ip_updated_at),
                "secondary_ip_updated_at": _maybe_timestamp(ips.secondary_ip_updated_at),
            }
            for key, value in values.items():
                if value is not None or self.absent_fields == "null":
                    data[key] = value
            return data

    def check_ip_access(self) -> None:
        with self._lock:
            access = self.ip_access
        if access != "ok":
            code, message = _IP_ACCESS_ERRORS[access]
            raise EmulatorError(403, code, message)

    def begin_ip_update(self, token: TokenRecord, body: Any) -> tuple[str, str | None]:
        """Validate and claim the user's update slot; pair with `finish_ip_update`."""
        primary, secondary = parse_ip_update(body)
        with self._lock:
            if primary == (secondary if secondary is not None else self.ips.secondary_ip):
                raise equal_ips_error(primary)
            unlock = self.next_change_allowed_at()
            if unlock is not None and self.now() < unlock:
                raise EmulatorError(
                    423,
                    "UDAPI1185",
                    "Static IP can only be changed once per week. "
                    f"Next change allowed after {upstox_timestamp(unlock)}",
                )
            if token.user_id in self._puts_in_flight:
                raise EmulatorError(
                    423, "UDAPI1186", "Another static IP update is in progress. Try again later."
                )
            self._puts_in_flight.add(token.user_id)
        return primary, secondary

    def finish_ip_update(
        self, token: TokenRecord, primary: str, secondary: str | None, *, commit: bool
    ) -> dict[str, Any]:
        with self._lock:
            self._puts_in_flight.discard(token.user_id)
            if not commit:
                return {}
            now = self.now()
            self.ips.primary_ip = primary
            self.ips.primary_ip_updated_at = now
            if secondary is not None:
                self.ips.secondary_ip = secondary
                self.ips.secondary_ip_updated_at = now
            for record in self.tokens.values():
                if record.user_id == token.user_id and record.revoked_at is None:
                    record.revoked_at = now
            return {**self.ips_json(), "access_tokens_invalidated": True}

    # Apps -------------------------------------------------------------------------------

    def add_app(self, app: ExtraApp) -> None:
        with self._lock:
            if app.client_id == self.config.client_id:
                raise ValueError("that is the main app's client_id: change it with config")
            self.extra_apps[app.client_id] = app

    def app(self, client_id: str | None) -> ExtraApp | None:
        """The user's app with this API key (the main app or an extra one)."""
        with self._lock:
            config = self.config
            if client_id == config.client_id:
                return ExtraApp(
                    config.client_id, config.client_secret, config.redirect_uri, config.notifier_url
                )
            return self.extra_apps.get(client_id or "")

    # Tokens -----------------------------------------------------------------------------

    def issue_token(
        self,
        *,
        issued_at: datetime | None = None,
        value: str | None = None,
        source: str = "admin",
        client_id: str | None = None,
    ) -> TokenRecord:
        with self._lock:
            issued = issued_at or self.now()
            record = TokenRecord(
                value=value or secrets.token_urlsafe(32),
                user_id=self.config.user_id,
                issued_at=issued,
                expires_at=next_token_expiry(issued),
                source=source,
                client_id=client_id or self.config.client_id,
            )
            self.tokens[record.value] = record
            return record

    def authenticate(self, authorization: str | None) -> TokenRecord:
        scheme, _, value = (authorization or "").partition(" ")
        with self._lock:
            record = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
            if record is None or not record.alive(self.now()):
                raise EmulatorError(401, "UDAPI100050", "Invalid token used to access API")
            return record

    def revoke(self, token: TokenRecord) -> None:
        with self._lock:
            token.revoked_at = self.now()

    def check_rate_limit(self, token: TokenRecord, route: str) -> None:
        with self._lock:
            self.rate_limiter.hit(token.user_id, route, self.now())

    def profile_json(self, user_id: str | None = None) -> dict[str, Any]:
        """The profile of `user_id` (a token's own user; default the configured user)."""
        config = self.config
        return {
            "email": config.email,
            "exchanges": ["NSE", "BSE", "NFO"],
            "products": ["D", "I", "CO"],
            "broker": "UPSTOX",
            "user_id": user_id or config.user_id,
            "user_name": config.user_name,
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "user_type": "individual",
            "poa": False,
            "ddpi": False,
            "is_active": True,
        }

    # OAuth ------------------------------------------------------------------------------

    def authorize(
        self, response_type: str | None, client_id: str | None, redirect: str | None
    ) -> str:
        with self._lock:
            app = self.app(client_id)
            if app is None or redirect != app.redirect_uri:
                raise EmulatorError(400, "UDAPI100068", "Check your 'client_id' and 'redirect_uri'")
            if response_type != "code":
                raise EmulatorError(400, "UDAPI100038", "Invalid 'response_type'")
            code = secrets.token_urlsafe(9)
            self.auth_codes[code] = self.now()
            self.auth_code_apps[code] = app.client_id
            return code

    def exchange_code(self, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            # Single-use even when the exchange fails.
            code = form.get("code", "")
            known = self.auth_codes.pop(code, None) is not None
            issued_to = self.auth_code_apps.pop(code, None)
            app = self.app(form.get("client_id"))
            if form.get("grant_type") != "authorization_code":
                raise EmulatorError(400, "UDAPI100038", "Invalid 'grant_type'")
            if app is None or form.get("client_secret") != app.client_secret:
                raise EmulatorError(401, "UDAPI100016", "Invalid Credentials")
            if form.get("redirect_uri") != app.redirect_uri:
                raise EmulatorError(400, "UDAPI100068", "Check your 'client_id' and 'redirect_uri'")
            if not known or issued_to != app.client_id:
                raise EmulatorError(400, "UDAPI100016", "Invalid Auth code")
            record = self.issue_token(source="oauth", client_id=app.client_id)
            return {
                **self.profile_json(),
                "access_token": record.value,
                "extended_token": None,
            }

    def start_token_request(self, client_id: str, body: Any) -> dict[str, Any]:
        secret = body.get("client_secret") if isinstance(body, dict) else None
        with self._lock:
            app = self.app(client_id)
            if app is None or secret != app.client_secret:
                raise EmulatorError(401, "UDAPI100069", "Invalid API key or secret")
            if not app.notifier_url:
                raise EmulatorError(400, "UDAPI1123", "Notifier URL is not configured for the app")
            now = self.now()
            request = PendingTokenRequest(client_id, now, next_token_expiry(now))
            self.token_requests.append(request)
            return {
                "authorization_expiry": epoch_ms(request.expires_at),
                "notifier_url": app.notifier_url,
            }

    def approve_token_request(self, client_id: str | None = None) -> tuple[str, dict[str, str]]:
        """The user taps "approve" (on the newest request, or the newest of `client_id`'s
        app): a new token and the payload for that app's notifier URL."""
        with self._lock:
            now = self.now()
            live = [
                r
                for r in self.token_requests
                if now < r.expires_at and client_id in (None, r.client_id)
            ]
            app = self.app(live[-1].client_id) if live else None
            if not live or app is None or not app.notifier_url:
                raise EmulatorError(409, "EMULATOR", "No pending access token request")
            request = live[-1]
            self.token_requests.remove(request)
            record = self.issue_token(source="token_request", client_id=request.client_id)
            payload = {
                "client_id": request.client_id,
                "user_id": record.user_id,
                "access_token": record.value,
                "token_type": "Bearer",
                "expires_at": epoch_ms(record.expires_at),
                "issued_at": epoch_ms(record.issued_at),
                "message_type": "access_token",
            }
            return app.notifier_url, payload

    # Faults and the call log -------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        if fault.route != "*" and fault.route not in ROUTES:
            raise ValueError(f"unknown route {fault.route!r}; one of {ROUTES} or '*'")
        if fault.kind == "status" and fault.status is None:
            raise ValueError("a 'status' fault needs a status")
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self.latency = self.put_delay = 0.0

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.route in (route, "*"):
                    if fault.count <= 1:
                        del self.faults[index]
                    else:
                        self.faults[index] = fault.model_copy(update={"count": fault.count - 1})
                    return fault
            return None

    def record_call(self, method: str, path: str) -> CallRecord:
        with self._lock:
            record = CallRecord(method, path, route_key(method, path), self.now())
            self.calls.append(record)
            return record

    def calls_to(self, route: str) -> list[CallRecord]:
        with self._lock:
            return [call for call in self.calls if call.route == route]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            unlock = self.next_change_allowed_at()
            return {
                "now": ist_iso(now),
                "config": {**asdict(self.config), "client_secret": "(set)"},
                "apps": [
                    {**asdict(app), "client_secret": "(set)"} for app in self.extra_apps.values()
                ],
                "ips": self.ips_json(),
                "next_change_allowed_at": ist_iso(unlock) if unlock else None,
                "week_rule": self.week_rule,
                "ip_access": self.ip_access,
                "absent_fields": self.absent_fields,
                "latency": self.latency,
                "put_delay": self.put_delay,
                "tokens": [
                    {
                        "hint": record.value[:4] + "…",
                        "source": record.source,
                        "client_id": record.client_id,
                        "issued_at": ist_iso(record.issued_at),
                        "expires_at": ist_iso(record.expires_at),
                        "revoked_at": ist_iso(record.revoked_at) if record.revoked_at else None,
                        "alive": record.alive(now),
                    }
                    for record in self.tokens.values()
                ],
                "pending_token_requests": len(self.token_requests),
                "faults": [fault.model_dump() for fault in self.faults],
                "rate_limits": [list(limit) for limit in self.rate_limiter.limits],
            }


def _maybe_timestamp(moment: datetime | None) -> str | None:
    return upstox_timestamp(moment) if moment else None
