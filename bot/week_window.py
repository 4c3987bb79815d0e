"""When may the registered IPs be changed again?

Upstox says "once per calendar week" and defines neither the week start, the timezone,
nor whether it is really a rolling 7 days (upstox-api.md §3). This module applies the
conservative guess from the design: the next change is safe no earlier than the later
of (a) the first Monday 00:00 IST strictly after the last change and (b) the last
change + 7 days. It is a guess: Upstox's `UDAPI1185` on the PUT is the final word.

Note that (a) is never later than (b) (a Monday strictly after `last` comes at most
7 days later), so the result is always `last + 7 days`; both terms are kept so the code
reads like the rule and stays right if the rule is ever tightened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.ist import to_ist

WEEK = timedelta(days=7)

_FOREVER = datetime.max.replace(tzinfo=UTC)

RULE_NOTE = (
    "Upstox allows one change per calendar week but does not define the week; the bot "
    "assumes the later of the next Monday 00:00 IST and 7 days after the last change. "
    "Upstox may still refuse (UDAPI1185), and its answer wins."
)


@dataclass(frozen=True, slots=True)
class ChangeWindow:
    allowed: bool
    next_allowed_at: datetime | None
    """None when the IPs were never changed (no lock known)."""
    last_change_at: datetime | None


def first_monday_after(moment: datetime) -> datetime:
    """The first Monday 00:00 IST strictly after `moment` (returned in IST)."""
    local = to_ist(moment)
    days_ahead = (7 - local.weekday()) % 7 or 7
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=days_ahead)


def next_allowed_after(last_change_at: datetime) -> datetime:
    return max(first_monday_after(last_change_at), to_ist(last_change_at) + WEEK)


def change_window(
    primary_updated_at: datetime | None,
    secondary_updated_at: datetime | None,
    now: datetime,
) -> ChangeWindow:
    """Whether a change is likely to be accepted at `now`, and from when it will be.

    All datetimes must be aware. A timestamp in the future (clock skew between us and
    Upstox) simply pushes the window further out, which is the safe direction.
    """
    if now.tzinfo is None:
        raise ValueError("naive `now`: attach a timezone first")
    stamps = [t for t in (primary_updated_at, secondary_updated_at) if t is not None]
    if any(t.tzinfo is None for t in stamps):
        raise ValueError("naive timestamp: attach a timezone first (Upstox's are IST)")
    if not stamps:
        return ChangeWindow(allowed=True, next_allowed_at=None, last_change_at=None)
    last = max(stamps)
    try:
        next_at = next_allowed_after(last)
    except OverflowError:
        # A garbage timestamp near year 9999: never call that "allowed".
        next_at = _FOREVER
    return ChangeWindow(allowed=now >= next_at, next_allowed_at=next_at, last_change_at=last)
