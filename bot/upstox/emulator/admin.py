"""Admin JSON API under /_emulator/: how tests and people steer the emulator over HTTP.

Every endpoint that concerns one Upstox user takes an optional `user_id` (query parameter,
or a body field where the body is JSON); without it, the first (default) user. An unknown
user_id answers 404 {"detail": "unknown user_id '...'"}.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from bot.ist import IST
from bot.upstox.emulator.rules import EmulatorError, RateLimiter, WeekRule
from bot.upstox.emulator.state import (
    AbsentStyle,
    AppConfig,
    EmulatorState,
    ExtraApp,
    Fault,
    IpAccess,
    RegisteredIps,
    UnknownUserError,
    UserSpec,
    ist_iso,
)

ADMIN_PREFIX = "/_emulator"
log = logging.getLogger(__name__)


class LoginAsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str
    user_id: str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IpsBody(_Body):
    user_id: str | None = None
    primary_ip: str | None = None
    secondary_ip: str | None = None
    primary_ip_updated_at: datetime | None = None
    secondary_ip_updated_at: datetime | None = None


class ClockBody(_Body):
    now: datetime | None = None
    advance_seconds: float | None = None
    frozen: bool | None = None


class TokenBody(_Body):
    issued_at: datetime | None = None
    user_id: str | None = None
    client_id: str | None = None


class FaultsBody(_Body):
    user_id: str | None = None  # for the faults that name no user_id themselves
    latency: float | None = Field(default=None, ge=0)
    put_delay: float | None = Field(default=None, ge=0)
    faults: list[Fault] = []


class AppBody(_Body):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    redirect_uri: str
    notifier_url: str | None = None


class AppForUserBody(AppBody):
    user_id: str | None = None


class UserBody(_Body):
    """A new Upstox user: the account, its main app, its IPs and its extra apps."""

    user_id: str = Field(min_length=1)
    name: str = "Emulated Trader"
    email: str = "trader@example.com"
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    redirect_uri: str
    notifier_url: str | None = None
    primary_ip: str | None = None
    secondary_ip: str | None = None
    primary_ip_updated_at: datetime | None = None
    secondary_ip_updated_at: datetime | None = None
    # When the IPs were last changed: the default for both *_updated_at of the IPs given.
    last_changed_at: datetime | None = None
    apps: list[AppBody] = []
    ip_access: IpAccess = "ok"
    seed_token: str | None = None  # a token with this value, issued at creation
    issue_token: bool = False  # mint a token and answer it as access_token

    def spec(self) -> UserSpec:
        last = _aware(self.last_changed_at)
        primary_at = _aware(self.primary_ip_updated_at) or (last if self.primary_ip else None)
        secondary_at = _aware(self.secondary_ip_updated_at) or (last if self.secondary_ip else None)
        config = AppConfig(
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uri=self.redirect_uri,
            notifier_url=self.notifier_url,
            user_id=self.user_id,
            user_name=self.name,
            email=self.email,
        )
        return UserSpec(
            config,
            RegisteredIps(self.primary_ip, self.secondary_ip, primary_at, secondary_at),
            tuple(ExtraApp(**app.model_dump()) for app in self.apps),
            self.seed_token,
            self.ip_access,
        )


class ConfigBody(_Body):
    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str | None = None
    notifier_url: str | None = None
    ip_access: IpAccess | None = None
    absent_fields: AbsentStyle | None = None
    rate_limits: list[tuple[float, int]] | None = None
    week_rule: WeekRule | None = None


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=IST)
    return moment


def admin_router(state: EmulatorState) -> APIRouter:
    router = APIRouter()

    def user_id_of(*candidates: str | None) -> str:
        """The first user_id given (body before query), checked; else the default user."""
        chosen = next((c for c in candidates if c is not None), None)
        try:
            return state.user(chosen).user_id
        except UnknownUserError as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("/users")
    async def users() -> list[dict[str, Any]]:
        return list(state.snapshot()["users"])

    @router.post("/users")
    async def add_user(body: UserBody) -> dict[str, Any]:
        try:
            state.add_user(body.spec())
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        answer = state.snapshot(body.user_id)
        if body.issue_token:
            answer["access_token"] = state.issue_token(user_id=body.user_id).value
        return answer

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return state.snapshot()

    @router.get("/state")
    async def snapshot(user_id: str | None = None) -> dict[str, Any]:
        return state.snapshot(user_id_of(user_id))

    @router.post("/ips")
    async def set_ips(body: IpsBody, user_id: str | None = None) -> dict[str, Any]:
        target = user_id_of(body.user_id, user_id)
        state.set_ips(
            body.primary_ip,
            body.secondary_ip,
            _aware(body.primary_ip_updated_at),
            _aware(body.secondary_ip_updated_at),
            user_id=target,
        )
        return state.snapshot(target)

    @router.post("/clock")
    async def set_clock(body: ClockBody) -> dict[str, Any]:
        if body.now is not None:
            moment = _aware(body.now)
            assert moment is not None
            state.clock.set(moment, frozen=bool(body.frozen))
        elif body.frozen is not None:
            state.clock.freeze(body.frozen)
        if body.advance_seconds is not None:
            state.clock.advance(body.advance_seconds)
        return {"now": ist_iso(state.now())}

    @router.post("/tokens")
    async def issue_token(
        body: TokenBody | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        body = body or TokenBody()
        target = user_id_of(body.user_id, user_id)
        if body.client_id is not None and state.user_for_client(body.client_id) != target:
            raise HTTPException(400, f"client_id {body.client_id!r} is not {target!r}'s app")
        record = state.issue_token(
            issued_at=_aware(body.issued_at), user_id=target, client_id=body.client_id
        )
        return {
            "client_id": record.client_id,
            "access_token": record.value,
            "user_id": record.user_id,
            "issued_at": ist_iso(record.issued_at),
            "expires_at": ist_iso(record.expires_at),
        }

    @router.post("/faults")
    async def add_faults(body: FaultsBody, user_id: str | None = None) -> dict[str, Any]:
        target = body.user_id if body.user_id is not None else user_id
        if target is not None:
            user_id_of(target)
        for fault in body.faults:
            if fault.user_id is not None:
                user_id_of(fault.user_id)
        if body.latency is not None:
            state.latency = body.latency
        if body.put_delay is not None:
            state.put_delay = body.put_delay
        for fault in body.faults:
            if fault.user_id is None and target is not None:
                fault = fault.model_copy(update={"user_id": target})
            try:
                state.add_fault(fault)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        return state.snapshot()

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        state.clear_faults()
        return state.snapshot()

    @router.post("/config")
    async def configure(body: ConfigBody, user_id: str | None = None) -> dict[str, Any]:
        target = user_id_of(body.user_id, user_id)
        user = state.user(target)
        app_fields = {"client_id", "client_secret", "redirect_uri", "notifier_url"}
        changes = body.model_dump(include=app_fields, exclude_unset=True)
        if body.name is not None:
            changes["user_name"] = body.name
        if body.email is not None:
            changes["email"] = body.email
        try:
            state.set_config(replace(user.config, **changes), target)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        if body.ip_access is not None:
            user.ip_access = body.ip_access
        if body.absent_fields is not None:
            state.absent_fields = body.absent_fields
        if body.week_rule is not None:
            state.week_rule = body.week_rule
        if body.rate_limits is not None:
            state.rate_limiter = RateLimiter(tuple(body.rate_limits))
        return state.snapshot(target)

    @router.post("/apps")
    async def add_app(body: AppForUserBody, user_id: str | None = None) -> dict[str, Any]:
        target = user_id_of(body.user_id, user_id)
        try:
            state.add_app(ExtraApp(**body.model_dump(exclude={"user_id"})), target)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return state.snapshot(target)

    @router.post("/login-as")
    async def login_as(body: LoginAsBody) -> dict[str, str]:
        """The next login through `client_id`'s dialog is by `user_id` (who typed another
        account's credentials): the token issued then is that user's."""
        try:
            state.user(body.user_id)
        except UnknownUserError as exc:
            raise HTTPException(404, str(exc)) from None
        if state.app(body.client_id) is None:
            raise HTTPException(404, f"unknown client_id {body.client_id!r}")
        state.login_as[body.client_id] = body.user_id
        return {"client_id": body.client_id, "user_id": body.user_id}

    @router.post("/token-requests/approve")
    async def approve_token_request(
        client_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        if user_id is not None:
            user_id_of(user_id)
        try:
            url, payload = state.approve_token_request(client_id, user_id)
        except EmulatorError as exc:
            raise HTTPException(409, exc.message) from None
        return {"notifier_url": url, "payload": payload, **await _deliver(url, payload)}

    @router.get("/calls")
    async def calls(user_id: str | None = None) -> list[dict[str, Any]]:
        """Every API call (only `user_id`'s when given), each with the user it was for."""
        if user_id is not None:
            user_id_of(user_id)
        return [call.as_json() for call in list(state.calls) if user_id in (None, call.user_id)]

    @router.delete("/calls")
    async def clear_calls() -> dict[str, str]:
        state.clear_calls()
        return {"status": "cleared"}

    return router


async def _deliver(url: str, payload: dict[str, str]) -> dict[str, Any]:
    """POST the token to the app's notifier URL, as Upstox does on approval (no auth)."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.post(url, json=payload)
    except httpx.HTTPError as exc:
        log.warning("notifier delivery failed: %s", type(exc).__name__)
        return {"delivered": False, "notifier_status": None, "error": type(exc).__name__}
    return {"delivered": response.is_success, "notifier_status": response.status_code}
