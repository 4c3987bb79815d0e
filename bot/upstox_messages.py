"""What each Upstox failure means for the person who asked, in one sentence or two.

One mapping for every command and job, so the same failure always reads the same way.
Upstox's own message is passed through where it helps (e.g. "IP already registered").
"""

from __future__ import annotations

import math

from bot.upstox import (
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

LOGIN_HINT = "Run `/staticip login` to log in to Upstox again."

_NOT_ALLOWED = {
    "not_allowed": "Upstox says this account may not read or change its static IPs "
    "with this app (UDAPI1179). Check that the token belongs to the right user.",
    "app_inactive": "Upstox says the app is inactive (UDAPI1180). Check it under "
    "Developer Apps on account.upstox.com.",
    "not_available": "Upstox says static IPs are not available for this app or account "
    "type (UDAPI1181).",
}


def upstox_timed_out(seconds: float) -> str:
    """The answer when Upstox (with the client's retries) did not answer within the deadline."""
    return (
        f"Upstox did not answer in time (within {seconds:g} s), so the bot cannot say "
        "what is registered right now. Nothing was changed. Try again shortly."
    )


def _upstox_says(error: UpstoxError) -> str:
    message = (error.message or "").strip()
    code = f" ({error.code})" if error.code else ""
    return f"Upstox says: “{message[:300]}”{code}" if message else f"Upstox refused{code}."


def describe_upstox_error(error: UpstoxError) -> str:
    if isinstance(error, UpstoxTokenInvalid):
        return f"The Upstox session has expired or was logged out. {LOGIN_HINT}"
    if isinstance(error, UpstoxRateLimited):
        wait = math.ceil(error.retry_after) if error.retry_after else 60
        return f"Upstox is rate limiting us right now. Try again in {wait} s."
    if isinstance(error, UpstoxOutcomeUnknown):
        return (
            "Upstox did not answer after the change was sent, so it may or may not have "
            "been applied. The bot will check by reading the IPs back — nothing is re-sent."
        )
    if isinstance(error, UpstoxUnavailable):
        return "Upstox is not answering right now (server error or timeout). Try again shortly."
    if isinstance(error, UpstoxNotAllowed):
        return _NOT_ALLOWED.get(error.reason, _upstox_says(error))
    if isinstance(error, UpstoxWeeklyLimit):
        return (
            "Upstox refused: the static IPs were already changed this week (UDAPI1185). "
            "Nothing was changed."
        )
    if isinstance(error, UpstoxConcurrentUpdate):
        return (
            "Upstox refused because another update of the static IPs happened at the same "
            "time (UDAPI1186). Nothing was re-sent; check `/staticip show`."
        )
    if isinstance(error, UpstoxInvalidInput):
        field = f" ({error.field})" if error.field else ""
        return f"Upstox rejected the IPs{field}. {_upstox_says(error)}"
    return _upstox_says(error)
