"""India Standard Time helpers: every user-facing time is shown in IST with its date.

IST is a fixed UTC+05:30 offset with no daylight saving, so a fixed tzinfo is exact and
avoids depending on the system's tz database (slim containers often lack one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")

Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime. Injected everywhere time matters."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def to_ist(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: attach a timezone first")
    return moment.astimezone(IST)


def format_ist(moment: datetime) -> str:
    """`Mon 30 Nov 2026, 00:00 IST`."""
    return to_ist(moment).strftime("%a %d %b %Y, %H:%M IST")


def next_token_expiry(issued_at: datetime) -> datetime:
    """Upstox tokens are valid until 03:30 IST the next day, whenever issued.

    The docs' example: issued 02:30 Wed expires 03:30 the same Wed, so "next 03:30" it is.
    """
    local = to_ist(issued_at)
    cutoff = local.replace(hour=3, minute=30, second=0, microsecond=0)
    if local >= cutoff:
        cutoff += timedelta(days=1)
    return cutoff
