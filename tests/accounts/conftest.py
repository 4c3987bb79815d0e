"""Three Upstox accounts in one bot: `desk` (the emulator's default user), `family` and
`prop`, each its own Upstox user in the emulator, with its own approvers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.config import Account, UpstoxApp
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import (
    APPROVAL_CHANNEL,
    UPSTOX_CLIENT_ID,
    UPSTOX_CLIENT_SECRET,
    InProcessBot,
    settings_from_env,
)
from tests.support.clock import MutableClock
from tests.support.upstox_users import DEFAULT_REDIRECT_URI, EmulatedUser, add_upstox_user

# Who approves what: UDESK approves desk only, UFAMILY family only, UBOTH all three.
DESK_APPROVERS = ("UDESK", "UBOTH")
FAMILY_APPROVERS = ("UFAMILY", "UBOTH")
PROP_APPROVERS = ("UDESK", "UFAMILY", "UBOTH")
FAMILY_CHANNEL = "CFAMILY"
OLD_FAMILY_IP = "203.0.113.20"
OLD_PROP_IP = "203.0.113.30"
# Each account's trading system fetches its token with its own key.
DESK_KEY = "desk-consumer-key-0123456789"
FAMILY_KEY = "family-consumer-key-0123456789"
PROP_KEY = "prop-consumer-key-0123456789"


@dataclass(frozen=True)
class Accounts:
    bot: InProcessBot
    emulator: EmulatorServer
    family: EmulatedUser
    prop: EmulatedUser


def app(client_id: str, secret: str, key: str) -> UpstoxApp:
    """An account's own app; its token is served at GET /token/<account> to `key`."""
    return UpstoxApp(
        client_id=client_id,
        client_secret=secret,
        redirect_uri=DEFAULT_REDIRECT_URI,
        token_api_keys=[key],  # type: ignore[list-item]
    )


def accounts_of(desk_token: str, family: EmulatedUser, prop: EmulatedUser) -> tuple[Account, ...]:
    return (
        Account(
            name="desk",
            upstox_user_id="EMU001",
            apps=(app(UPSTOX_CLIENT_ID, UPSTOX_CLIENT_SECRET, DESK_KEY),),
            slack_approval_channel=APPROVAL_CHANNEL,
            slack_approvers=DESK_APPROVERS,
            upstox_access_token=desk_token,  # type: ignore[arg-type]
        ),
        Account(
            name="family",
            upstox_user_id=family.user_id,
            apps=(app(family.client_id, family.client_secret, FAMILY_KEY),),
            slack_approval_channel=FAMILY_CHANNEL,
            slack_approvers=FAMILY_APPROVERS,
            upstox_access_token=family.access_token,  # type: ignore[arg-type]
        ),
        Account(
            name="prop",
            upstox_user_id=prop.user_id,
            apps=(app(prop.client_id, prop.client_secret, PROP_KEY),),
            slack_approval_channel=APPROVAL_CHANNEL,
            slack_approvers=PROP_APPROVERS,
            upstox_access_token=prop.access_token,  # type: ignore[arg-type]
        ),
    )


@pytest.fixture
def users(emulator: EmulatorServer) -> tuple[EmulatedUser, EmulatedUser]:
    family = add_upstox_user(
        emulator, "EMU002", primary_ip=OLD_FAMILY_IP, last_changed_at="2026-01-05T10:00:00+05:30"
    )
    prop = add_upstox_user(
        emulator, "EMU003", primary_ip=OLD_PROP_IP, last_changed_at="2026-01-05T10:00:00+05:30"
    )
    return family, prop


@pytest.fixture
def accounts(
    env: dict[str, str],
    clock: MutableClock,
    emulator: EmulatorServer,
    users: tuple[EmulatedUser, EmulatedUser],
    upstox_token: str,
) -> Iterator[Accounts]:
    family, prop = users
    settings = settings_from_env(env).with_accounts(accounts_of(upstox_token, family, prop))
    running = InProcessBot(settings, clock=clock).start()
    yield Accounts(running, emulator, family, prop)
    running.stop()
