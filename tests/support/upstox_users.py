"""More Upstox users (accounts) in the emulator, for the several-accounts tests.

`add_upstox_user` adds one to a running emulator over its admin API (`POST
/_emulator/users`); like anything set over that API it is forgotten at the next reset, so
with the suite's `emulator` fixture it lasts one test. `emulator_with_users` starts a
separate emulator whose extra users are part of its start-up state (they survive resets).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.upstox.emulator import EmulatorServer
from bot.upstox.emulator.server import EmulatorState, UserBody

DEFAULT_REDIRECT_URI = "http://127.0.0.1:3000/upstox/callback"


@dataclass(frozen=True)
class EmulatedUser:
    """What a test needs to configure the bot for one more Upstox account."""

    user_id: str
    name: str
    client_id: str
    client_secret: str
    redirect_uri: str
    notifier_url: str | None
    access_token: str  # a live token of this user, minted when it was added


def user_body(
    user_id: str,
    *,
    name: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    notifier_url: str | None = None,
    primary_ip: str | None = None,
    secondary_ip: str | None = None,
    last_changed_at: datetime | str | None = None,
    apps: list[dict[str, Any]] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A `POST /_emulator/users` body with per-user defaults (`<user_id>-api-key`, ...)."""
    slug = user_id.lower()
    body: dict[str, Any] = {
        "user_id": user_id,
        "name": name or f"Trader {user_id}",
        "client_id": client_id or f"{slug}-api-key",
        "client_secret": client_secret or f"{slug}-api-secret",
        "redirect_uri": redirect_uri,
        "notifier_url": notifier_url,
        "primary_ip": primary_ip,
        "secondary_ip": secondary_ip,
        "last_changed_at": (
            last_changed_at.isoformat()
            if isinstance(last_changed_at, datetime)
            else last_changed_at
        ),
        "apps": apps or [],
        **more,
    }
    return body


def add_upstox_user(emulator: EmulatorServer, user_id: str, **fields: Any) -> EmulatedUser:
    """Add a user to the running emulator (fields as `user_body`) and mint it a token."""
    body = {**user_body(user_id, **fields), "issue_token": True}
    with httpx.Client(base_url=f"{emulator.base_url}/_emulator", timeout=5.0) as http:
        response = http.post("/users", json=body)
    response.raise_for_status()
    answer = response.json()
    return EmulatedUser(
        user_id=user_id,
        name=body["name"],
        client_id=body["client_id"],
        client_secret=body["client_secret"],
        redirect_uri=body["redirect_uri"],
        notifier_url=body["notifier_url"],
        access_token=answer["access_token"],
    )


@contextmanager
def emulator_with_users(*users: dict[str, Any]) -> Iterator[EmulatorServer]:
    """A fresh emulator: the default user plus `users` (bodies as from `user_body`),
    which stay across `state.reset()`."""
    specs = [UserBody.model_validate(body).spec() for body in users]
    with EmulatorServer(EmulatorState(users=specs)) as server:
        yield server
