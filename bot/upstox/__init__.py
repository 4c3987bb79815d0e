"""Upstox: the typed async client and its exceptions (the emulator is `bot.upstox.emulator`)."""

from bot.upstox.client import DEFAULT_BASE_URL, UpstoxClient
from bot.upstox.errors import (
    ApiErrorDetail,
    Endpoint,
    UpstoxApiError,
    UpstoxConcurrentUpdate,
    UpstoxError,
    UpstoxInvalidInput,
    UpstoxNotAllowed,
    UpstoxOutcomeUnknown,
    UpstoxRateLimited,
    UpstoxTokenInvalid,
    UpstoxUnavailable,
    UpstoxWeeklyLimit,
)
from bot.upstox.models import (
    AccessTokenRequestStarted,
    NotifierPayload,
    Profile,
    StaticIps,
    StaticIpUpdateResult,
    TokenResponse,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AccessTokenRequestStarted",
    "ApiErrorDetail",
    "Endpoint",
    "NotifierPayload",
    "Profile",
    "StaticIpUpdateResult",
    "StaticIps",
    "TokenResponse",
    "UpstoxApiError",
    "UpstoxClient",
    "UpstoxConcurrentUpdate",
    "UpstoxError",
    "UpstoxInvalidInput",
    "UpstoxNotAllowed",
    "UpstoxOutcomeUnknown",
    "UpstoxRateLimited",
    "UpstoxTokenInvalid",
    "UpstoxUnavailable",
    "UpstoxWeeklyLimit",
]
