"""Admin JSON API under /_emulator/: how tests and people steer the emulator over HTTP."""

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
    EmulatorState,
    ExtraApp,
    Fault,
    IpAccess,
    ist_iso,
)

ADMIN_PREFIX = "/_emulator"
log = logging.getLogger(__name__)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IpsBody(_Body):
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


class FaultsBody(_Body):
    latency: float | None = Field(default=None, ge=0)
    put_delay: float | None = Field(default=None, ge=0)
    faults: list[Fault] = []


class AppBody(_Body):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    redirect_uri: str
    notifier_url: str | None = None


class ConfigBody(_Body):
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

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return state.snapshot()

    @router.get("/state")
    async def snapshot() -> dict[str, Any]:
        return state.snapshot()

    @router.post("/ips")
    async def set_ips(body: IpsBody) -> dict[str, Any]:
        state.set_ips(
            body.primary_ip,
            body.secondary_ip,
            _aware(body.primary_ip_updated_at),
            _aware(body.secondary_ip_updated_at),
        )
        return state.snapshot()

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
    async def issue_token(body: TokenBody | None = None) -> dict[str, Any]:
        record = state.issue_token(issued_at=_aware(body.issued_at) if body else None)
        return {
            "access_token": record.value,
            "user_id": record.user_id,
            "issued_at": ist_iso(record.issued_at),
            "expires_at": ist_iso(record.expires_at),
        }

    @router.post("/faults")
    async def add_faults(body: FaultsBody) -> dict[str, Any]:
        if body.latency is not None:
            state.latency = body.latency
        if body.put_delay is not None:
            state.put_delay = body.put_delay
        for fault in body.faults:
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
    async def configure(body: ConfigBody) -> dict[str, Any]:
        app_fields = {"client_id", "client_secret", "redirect_uri", "notifier_url"}
        changes = body.model_dump(include=app_fields, exclude_unset=True)
        state.config = replace(state.config, **changes)
        if body.ip_access is not None:
            state.ip_access = body.ip_access
        if body.absent_fields is not None:
            state.absent_fields = body.absent_fields
        if body.week_rule is not None:
            state.week_rule = body.week_rule
        if body.rate_limits is not None:
            state.rate_limiter = RateLimiter(tuple(body.rate_limits))
        return state.snapshot()

    @router.post("/apps")
    async def add_app(body: AppBody) -> dict[str, Any]:
        try:
            state.add_app(ExtraApp(**body.model_dump()))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return state.snapshot()

    @router.post("/token-requests/approve")
    async def approve_token_request(client_id: str | None = None) -> dict[str, Any]:
        try:
            url, payload = state.approve_token_request(client_id)
        except EmulatorError as exc:
            raise HTTPException(409, exc.message) from None
        return {"notifier_url": url, "payload": payload, **await _deliver(url, payload)}

    @router.get("/calls")
    async def calls() -> list[dict[str, Any]]:
        return [call.as_json() for call in list(state.calls)]

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
