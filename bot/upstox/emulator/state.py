"""Everything the emulator remembers, shared by the HTTP handlers and by tests.

All methods are synchronous and guarded by one lock: the server runs in its own thread
and tests change the state from theirs.

The emulator holds one or more Upstox users (accounts). Each has its own main app, extra
apps, registered IPs (so its own week lock), IP access, tokens, rate-limit windows and
PUT-in-flight slot. The first user is the default one: every method that takes an optional
`user_id` means that user without it, so single-user callers never name a user. A token
belongs to its user; the OAuth and Access Token Request routes find the user by client_id.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
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


@dataclass(frozen=True)
class UserSpec:
    """How a user starts (and comes back after a reset): the account and its main app,
    its registered IPs, its extra apps and optionally a token issued at start."""

    config: AppConfig
    ips: RegisteredIps = field(default_factory=RegisteredIps)
    apps: tuple[ExtraApp, ...] = ()
    seed_token: str | None = None
    ip_access: IpAccess = "ok"


@dataclass
class UserState:
    """One Upstox user as the emulator holds it now."""

    config: AppConfig
    ips: RegisteredIps
    extra_apps: dict[str, ExtraApp] = field(default_factory=dict)
    ip_access: IpAccess = "ok"

    @property
    def user_id(self) -> str:
        return self.config.user_id

    def client_ids(self) -> set[str]:
        return {self.config.client_id, *self.extra_apps}


class UnknownUserError(LookupError):
    """No user with that user_id."""

    def __init__(self, user_id: str) -> None:
        super().__init__(f"unknown user_id {user_id!r}")
        self.user_id = user_id


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
    # Whose call it was: the bearer token's user, or the user of the client_id it names.
    user_id: str | None = None
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
    # Only calls of this user (by bearer token or client_id); None: everyone's calls.
    user_id: str | None = None


@dataclass
class PendingTokenRequest:
    client_id: str
    created_at: datetime
    expires_at: datetime
    user_id: str = ""


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
        users: Sequence[UserSpec] = (),
    ) -> None:
        """`config`, `ips` and `seed_token` describe the default (first) user; `users` are
        more users after it."""
        self._lock = threading.RLock()
        self._initial_week_rule: WeekRule = week_rule
        first = UserSpec(
            config or AppConfig(), replace(ips) if ips else RegisteredIps(), (), seed_token
        )
        self._initial_users: tuple[UserSpec, ...] = (first, *users)
        self.clock = EmulatorClock(clock)
        self.hangs = Hangs()
        self.reset()

    def reset(self) -> None:
        """Back to the constructor's users, config and IPs; forget users added since,
        tokens, calls and faults."""
        with self._lock:
            self.hangs.release_all()
            self.clock.reset()
            self.users: dict[str, UserState] = {}
            self.absent_fields: AbsentStyle = "omit"
            self.week_rule: WeekRule = self._initial_week_rule
            self.latency = 0.0
            self.put_delay = 0.0
            self.tokens: dict[str, TokenRecord] = {}
            self.auth_codes: dict[str, datetime] = {}
            self.auth_code_apps: dict[str, str] = {}
            # client_id → the user who logs in next through that app (someone typing another
            # account's credentials into the dialog); the code then carries that user.
            self.login_as: dict[str, str] = {}
            self.auth_code_users: dict[str, str] = {}
            self.token_requests: list[PendingTokenRequest] = []
            self.faults: list[Fault] = []
            self.calls: list[CallRecord] = []
            self.rate_limiter = RateLimiter(DEFAULT_RATE_LIMITS)
            self._puts_in_flight: set[str] = set()
            for spec in self._initial_users:
                self.add_user(spec)

    def now(self) -> datetime:
        return self.clock.now()

    # Users ------------------------------------------------------------------------------

    def add_user(self, spec: UserSpec) -> UserState:
        """Another Upstox user; ValueError if its user_id or one of its client_ids is
        taken (client_ids are unique across users: they route the login endpoints)."""
        with self._lock:
            user_id = spec.config.user_id
            if not user_id:
                raise ValueError("a user needs a user_id")
            if user_id in self.users:
                raise ValueError(f"user_id {user_id!r} already exists")
            wanted = [spec.config.client_id, *(app.client_id for app in spec.apps)]
            if len(set(wanted)) != len(wanted):
                raise ValueError("a user's apps need distinct client_ids")
            for client_id in wanted:
                owner = self.user_for_client(client_id)
                if owner is not None:
                    raise ValueError(f"client_id {client_id!r} belongs to user {owner!r}")
            user = UserState(
                spec.config,
                replace(spec.ips),
                {app.client_id: app for app in spec.apps},
                spec.ip_access,
            )
            self.users[user_id] = user
            if spec.seed_token:
                self.issue_token(value=spec.seed_token, source="seed", user_id=user_id)
            return user

    def user(self, user_id: str | None = None) -> UserState:
        """The user with this user_id (default: the first user); UnknownUserError if none."""
        with self._lock:
            if user_id is None:
                return next(iter(self.users.values()))
            try:
                return self.users[user_id]
            except KeyError:
                raise UnknownUserError(user_id) from None

    @property
    def default_user_id(self) -> str:
        return self.user().user_id

    def user_for_client(self, client_id: str | None) -> str | None:
        """The user_id owning the app with this API key, if any."""
        with self._lock:
            for user in self.users.values():
                if client_id in user.client_ids():
                    return user.user_id
            return None

    def token_user(self, value: str) -> str | None:
        """The user a bearer token was issued to (alive or not), if the token is known."""
        with self._lock:
            record = self.tokens.get(value)
            return record.user_id if record else None

    # The default user's fields, as single-user callers knew them.

    @property
    def config(self) -> AppConfig:
        return self.user().config

    @config.setter
    def config(self, config: AppConfig) -> None:
        self.set_config(config)

    def set_config(self, config: AppConfig, user_id: str | None = None) -> None:
        """Replace a user's account and main app (a new user_id renames the user)."""
        with self._lock:
            user = self.user(user_id)
            owner = self.user_for_client(config.client_id)
            if owner not in (None, user.user_id) or config.client_id in user.extra_apps:
                raise ValueError(f"client_id {config.client_id!r} is another app's")
            if config.user_id != user.user_id:
                if config.user_id in self.users:
                    raise ValueError(f"user_id {config.user_id!r} already exists")
                self.users = {
                    (config.user_id if key == user.user_id else key): value
                    for key, value in self.users.items()
                }
            user.config = config

    @property
    def ips(self) -> RegisteredIps:
        return self.user().ips

    @ips.setter
    def ips(self, ips: RegisteredIps) -> None:
        self.user().ips = ips

    @property
    def extra_apps(self) -> dict[str, ExtraApp]:
        return self.user().extra_apps

    @property
    def ip_access(self) -> IpAccess:
        return self.user().ip_access

    @ip_access.setter
    def ip_access(self, access: IpAccess) -> None:
        self.user().ip_access = access

    # IPs --------------------------------------------------------------------------------

    def set_ips(
        self,
        primary_ip: str | None,
        secondary_ip: str | None = None,
        primary_ip_updated_at: datetime | None = None,
        secondary_ip_updated_at: datetime | None = None,
        *,
        user_id: str | None = None,
    ) -> None:
        with self._lock:
            self.user(user_id).ips = RegisteredIps(
                primary_ip, secondary_ip, primary_ip_updated_at, secondary_ip_updated_at
            )

    def next_change_allowed_at(self, user_id: str | None = None) -> datetime | None:
        with self._lock:
            last = self.user(user_id).ips.last_change
            rule = self.week_rule
        return week_unlock_at(last, rule) if last else None

    def ips_json(self, user_id: str | None = None) -> dict[str, Any]:
        with self._lock:
            user = self.user(user_id)
            ips = user.ips
            data: dict[str, Any] = {"user_id": user.user_id}
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

    def check_ip_access(self, user_id: str | None = None) -> None:
        with self._lock:
            access = self._token_owner(user_id).ip_access
        if access != "ok":
            code, message = _IP_ACCESS_ERRORS[access]
            raise EmulatorError(403, code, message)

    def begin_ip_update(self, token: TokenRecord, body: Any) -> tuple[str, str | None]:
        """Validate and claim the user's update slot; pair with `finish_ip_update`."""
        primary, secondary = parse_ip_update(body)
        with self._lock:
            user = self._token_owner(token.user_id)
            if primary == (secondary if secondary is not None else user.ips.secondary_ip):
                raise equal_ips_error(primary)
            unlock = self.next_change_allowed_at(user.user_id)
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
            ips = self._token_owner(token.user_id).ips
            now = self.now()
            ips.primary_ip = primary
            ips.primary_ip_updated_at = now
            if secondary is not None:
                ips.secondary_ip = secondary
                ips.secondary_ip_updated_at = now
            for record in self.tokens.values():
                if record.user_id == token.user_id and record.revoked_at is None:
                    record.revoked_at = now
            return {**self.ips_json(token.user_id), "access_tokens_invalidated": True}

    def _token_owner(self, user_id: str | None) -> UserState:
        """The user a token belongs to; a token whose user is gone is no token."""
        try:
            return self.user(user_id)
        except UnknownUserError:
            raise EmulatorError(401, "UDAPI100050", "Invalid token used to access API") from None

    # Apps -------------------------------------------------------------------------------

    def add_app(self, app: ExtraApp, user_id: str | None = None) -> None:
        with self._lock:
            user = self.user(user_id)
            if app.client_id == user.config.client_id:
                raise ValueError("that is the main app's client_id: change it with config")
            owner = self.user_for_client(app.client_id)
            if owner not in (None, user.user_id):
                raise ValueError(f"client_id {app.client_id!r} belongs to user {owner!r}")
            user.extra_apps[app.client_id] = app

    def app(self, client_id: str | None) -> ExtraApp | None:
        """The app with this API key (any user's main app or extra one)."""
        with self._lock:
            for user in self.users.values():
                config = user.config
                if client_id == config.client_id:
                    return ExtraApp(
                        config.client_id,
                        config.client_secret,
                        config.redirect_uri,
                        config.notifier_url,
                    )
                if client_id in user.extra_apps:
                    return user.extra_apps[client_id]
            return None

    # Tokens -----------------------------------------------------------------------------

    def issue_token(
        self,
        *,
        issued_at: datetime | None = None,
        value: str | None = None,
        source: str = "admin",
        client_id: str | None = None,
        user_id: str | None = None,
    ) -> TokenRecord:
        """A token of `user_id` (default: the owner of `client_id`, else the first user)."""
        with self._lock:
            if user_id is None and client_id is not None:
                user_id = self.user_for_client(client_id)
            user = self.user(user_id)
            issued = issued_at or self.now()
            record = TokenRecord(
                value=value or secrets.token_urlsafe(32),
                user_id=user.user_id,
                issued_at=issued,
                expires_at=next_token_expiry(issued),
                source=source,
                client_id=client_id or user.config.client_id,
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
        """The profile of `user_id` (a token's own user; default the first user)."""
        with self._lock:
            known = user_id is None or user_id in self.users
            config = self.user(user_id if known else None).config
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
            login_as = self.login_as.pop(app.client_id, None)
            if login_as is not None:
                self.auth_code_users[code] = login_as
            return code

    def exchange_code(self, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            # Single-use even when the exchange fails.
            code = form.get("code", "")
            known = self.auth_codes.pop(code, None) is not None
            issued_to = self.auth_code_apps.pop(code, None)
            logged_in_as = self.auth_code_users.pop(code, None)
            app = self.app(form.get("client_id"))
            if form.get("grant_type") != "authorization_code":
                raise EmulatorError(400, "UDAPI100038", "Invalid 'grant_type'")
            if app is None or form.get("client_secret") != app.client_secret:
                raise EmulatorError(401, "UDAPI100016", "Invalid Credentials")
            if form.get("redirect_uri") != app.redirect_uri:
                raise EmulatorError(400, "UDAPI100068", "Check your 'client_id' and 'redirect_uri'")
            if not known or issued_to != app.client_id:
                raise EmulatorError(400, "UDAPI100016", "Invalid Auth code")
            record = self.issue_token(source="oauth", client_id=app.client_id, user_id=logged_in_as)
            return {
                **self.profile_json(record.user_id),
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
            owner = self.user_for_client(client_id) or ""
            request = PendingTokenRequest(client_id, now, next_token_expiry(now), owner)
            self.token_requests.append(request)
            return {
                "authorization_expiry": epoch_ms(request.expires_at),
                "notifier_url": app.notifier_url,
            }

    def approve_token_request(
        self, client_id: str | None = None, user_id: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """The user taps "approve" (on the newest request, or the newest of `client_id`'s
        app, or of `user_id`'s apps): a new token and the payload for that app's notifier."""
        with self._lock:
            if user_id is not None:
                self.user(user_id)  # UnknownUserError for a user that does not exist
            now = self.now()
            live = [
                r
                for r in self.token_requests
                if now < r.expires_at
                and client_id in (None, r.client_id)
                and user_id in (None, r.user_id)
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
            if fault.user_id is not None and fault.user_id not in self.users:
                raise ValueError(f"unknown user_id {fault.user_id!r}")
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self.latency = self.put_delay = 0.0

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def take_fault(self, route: str, user_id: str | None = None) -> Fault | None:
        """The first fault for this route and this call's user (a fault naming no user
        matches everyone's calls)."""
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.route in (route, "*") and fault.user_id in (None, user_id):
                    if fault.count <= 1:
                        del self.faults[index]
                    else:
                        self.faults[index] = fault.model_copy(update={"count": fault.count - 1})
                    return fault
            return None

    def record_call(self, method: str, path: str, user_id: str | None = None) -> CallRecord:
        with self._lock:
            record = CallRecord(method, path, route_key(method, path), self.now(), user_id=user_id)
            self.calls.append(record)
            return record

    def calls_to(self, route: str, *, user_id: str | None = None) -> list[CallRecord]:
        """The calls to `route` (only `user_id`'s when given)."""
        with self._lock:
            return [
                call
                for call in self.calls
                if call.route == route and user_id in (None, call.user_id)
            ]

    def snapshot(self, user_id: str | None = None) -> dict[str, Any]:
        """The state as the admin API shows it: the top-level fields describe `user_id`
        (default: the first user); `users` summarises every user."""
        with self._lock:
            now = self.now()
            user = self.user(user_id)
            return {
                "now": ist_iso(now),
                **self._user_json(user, now),
                "week_rule": self.week_rule,
                "absent_fields": self.absent_fields,
                "latency": self.latency,
                "put_delay": self.put_delay,
                "faults": [fault.model_dump() for fault in self.faults],
                "rate_limits": [list(limit) for limit in self.rate_limiter.limits],
                "users": [self._user_json(other, now) for other in self.users.values()],
            }

    def _user_json(self, user: UserState, now: datetime) -> dict[str, Any]:
        unlock = self.next_change_allowed_at(user.user_id)
        return {
            "user_id": user.user_id,
            "config": {**asdict(user.config), "client_secret": "(set)"},
            "apps": [{**asdict(app), "client_secret": "(set)"} for app in user.extra_apps.values()],
            "ips": self.ips_json(user.user_id),
            "next_change_allowed_at": ist_iso(unlock) if unlock else None,
            "ip_access": user.ip_access,
            "put_in_flight": user.user_id in self._puts_in_flight,
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
                if record.user_id == user.user_id
            ],
            "pending_token_requests": sum(
                1 for r in self.token_requests if r.user_id == user.user_id
            ),
        }


def _maybe_timestamp(moment: datetime | None) -> str | None:
    return upstox_timestamp(moment) if moment else None
