"""The rules the emulator enforces, kept free of HTTP: IP validation, week lock, rate limit."""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.ist import IST

# Standard Upstox APIs: 50/s, 500/min, 2000/30 min per user and API.
DEFAULT_RATE_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 50), (60.0, 500), (1800.0, 2000))


@dataclass
class EmulatorError(Exception):
    """An error answer in Upstox's envelope."""

    status: int
    code: str
    message: str
    property_path: str | None = None
    invalid_value: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.code, self.message, self.property_path, self.invalid_value)


def error_envelope(
    code: str, message: str, property_path: str | None = None, invalid_value: Any = None
) -> dict[str, Any]:
    # Upstox still sends the deprecated camelCase twins beside the snake_case fields.
    return {
        "status": "error",
        "errors": [
            {
                "error_code": code,
                "message": message,
                "property_path": property_path,
                "invalid_value": invalid_value,
                "errorCode": code,
                "propertyPath": property_path,
                "invalidValue": invalid_value,
            }
        ],
    }


WeekRule = Literal["calendar_week", "rolling_7_days"]
WEEK_RULES: tuple[WeekRule, ...] = ("calendar_week", "rolling_7_days")
DEFAULT_WEEK_RULE: WeekRule = "calendar_week"


def week_unlock_at(last_change: datetime, rule: WeekRule = DEFAULT_WEEK_RULE) -> datetime:
    """When Upstox accepts the next change. "calendar_week" is the documented rule ("once
    per calendar week", read as Monday 00:00 – Sunday 24:00 IST): the first Monday 00:00
    IST after the change. "rolling_7_days" is how other brokers read the same NSE rule:
    the change + 7 days. Which one Upstox really applies is undocumented."""
    if rule == "rolling_7_days":
        return last_change + timedelta(days=7)
    local = last_change.astimezone(IST)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=7 - local.weekday())


def canonical_ip(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise invalid_ip(field_name, value)
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise invalid_ip(field_name, value) from None


def invalid_ip(field_name: str, value: Any) -> EmulatorError:
    return EmulatorError(
        400, "UDAPI1183", "Invalid IP address format", field_name, _jsonable(value)
    )


def parse_ip_update(body: Any) -> tuple[str, str | None]:
    """Validate a PUT body the way the docs describe (1182, 1183, 1184)."""
    if not isinstance(body, dict):
        raise EmulatorError(400, "UDAPI100038", "Invalid input: expected a JSON object")
    raw_primary = body.get("primary_ip")
    if raw_primary is None or (isinstance(raw_primary, str) and not raw_primary.strip()):
        raise EmulatorError(400, "UDAPI1182", "Primary IP is required", "primary_ip", None)
    primary = canonical_ip(raw_primary, "primary_ip")
    # "Omit when not needed": a missing key keeps the registered secondary; an explicit
    # null is not an IP address, so it is invalid input like any other non-string.
    raw_secondary = body.get("secondary_ip", "")
    secondary = None
    if raw_secondary != "":
        secondary = canonical_ip(raw_secondary, "secondary_ip")
    return primary, secondary


def equal_ips_error(primary: str) -> EmulatorError:
    return EmulatorError(
        400, "UDAPI1184", "Primary and secondary IP cannot be the same", "secondary_ip", primary
    )


class RateLimiter:
    """Sliding windows per (user, API)."""

    def __init__(self, limits: tuple[tuple[float, int], ...] = DEFAULT_RATE_LIMITS) -> None:
        self.limits = limits
        self._hits: dict[tuple[str, str], deque[datetime]] = {}

    def hit(self, user_id: str, api: str, now: datetime) -> None:
        hits = self._hits.setdefault((user_id, api), deque())
        longest = max((window for window, _ in self.limits), default=0.0)
        while hits and hits[0] <= now - timedelta(seconds=longest):
            hits.popleft()
        for window, limit in self.limits:
            since = now - timedelta(seconds=window)
            if sum(1 for moment in hits if moment > since) >= limit:
                raise EmulatorError(
                    429, "UDAPI10005", "Too many requests. Please try again after some time."
                )
        hits.append(now)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
