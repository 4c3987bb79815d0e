"""When may the registered IPs be changed again?

Upstox says the IPs "can only be changed once per calendar week" (upstox-api.md §3), so
the bot enforces the calendar week: Monday 00:00 – Sunday 24:00 IST. A change in one week
allows the next one from the following Monday 00:00 IST — a change on Sunday 23:00 lets
the desk change again an hour later.

Upstox does not define the week (start day, timezone, or a rolling 7 days), so its
`UDAPI1185` on the PUT stays the final word. When it refuses a change this rule allowed,
the bot records what Upstox enforced (a `LearnedRule`: the refusal's distance from the
last change) and from then on also waits that long after a change: the estimate is the
later of the calendar week and the learned gap, and says which of the two it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.ist import format_ist, to_ist

WEEK = timedelta(days=7)
DAY = timedelta(days=1)

_FOREVER = datetime.max.replace(tzinfo=UTC)

RuleSource = Literal["calendar_week", "learned"]

RULE_NOTE = (
    "Upstox allows one change per calendar week (Monday 00:00 – Sunday 24:00 IST, the "
    "bot's reading: Upstox does not define the week). Upstox may still refuse "
    "(UDAPI1185), and its answer wins."
)


@dataclass(frozen=True, slots=True)
class LearnedRule:
    """What Upstox enforced: it refused a change `refused_at`, `gap` after `last_change_at`."""

    refused_at: datetime
    last_change_at: datetime

    @property
    def gap(self) -> timedelta:
        return self.refused_at - self.last_change_at

    @property
    def min_gap(self) -> timedelta:
        """How long after a change the bot now waits: a refusal under a week apart reads as
        "7 rolling days"; a longer one (Upstox stricter still) as one day more than that."""
        return WEEK if self.gap < WEEK else self.gap + DAY

    def describe(self) -> str:
        return (
            f"Upstox refused a change {describe_gap(self.gap)} after the last one "
            f"(refused {format_ist(self.refused_at)}, last change "
            f"{format_ist(self.last_change_at)}), so the bot also waits "
            f"{describe_gap(self.min_gap)} after a change"
        )


@dataclass(frozen=True, slots=True)
class ChangeWindow:
    allowed: bool
    next_allowed_at: datetime | None
    """None when the IPs were never changed (no lock known)."""
    last_change_at: datetime | None
    rule: RuleSource = "calendar_week"
    """Which rule `next_allowed_at` comes from."""
    calendar_opens_at: datetime | None = None
    """When the calendar week after the last change opens (None: never changed)."""
    learned: LearnedRule | None = None


def describe_gap(gap: timedelta) -> str:
    days, rest = divmod(int(gap.total_seconds()), 86400)
    hours = rest // 3600
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours or not days:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    return " ".join(parts)


def first_monday_after(moment: datetime) -> datetime:
    """The first Monday 00:00 IST strictly after `moment` (returned in IST)."""
    local = to_ist(moment)
    days_ahead = (7 - local.weekday()) % 7 or 7
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=days_ahead)


def next_allowed_after(last_change_at: datetime, learned: LearnedRule | None = None) -> datetime:
    """The calendar week after the last change opens; later if Upstox taught us so."""
    calendar = first_monday_after(last_change_at)
    if learned is None:
        return calendar
    return max(calendar, to_ist(last_change_at) + learned.min_gap)


def change_window(
    primary_updated_at: datetime | None,
    secondary_updated_at: datetime | None,
    now: datetime,
    learned: LearnedRule | None = None,
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
        return ChangeWindow(
            allowed=True, next_allowed_at=None, last_change_at=None, learned=learned
        )
    last = max(stamps)
    try:
        calendar = first_monday_after(last)
        next_at = next_allowed_after(last, learned)
    except OverflowError:
        # A garbage timestamp near year 9999: never call that "allowed".
        calendar = next_at = _FOREVER
    return ChangeWindow(
        allowed=now >= next_at,
        next_allowed_at=next_at,
        last_change_at=last,
        rule="learned" if next_at > calendar else "calendar_week",
        calendar_opens_at=calendar,
        learned=learned,
    )
