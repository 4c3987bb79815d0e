"""The watchers' rules: given what the bot knows now, which alert conditions hold.

Pure functions: no Slack, no Upstox, no database. The jobs in `bot/jobs/` gather the
facts, ask these rules, and turn the answers into deduplicated alerts.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot.ips import same_ip
from bot.ist import to_ist
from bot.week_window import ChangeWindow

DRIFT = "drift"
WINDOW_REOPENED = "window_reopened"
MORNING_REMINDER = "morning_reminder"

# How long after a lock ends the "window reopened" note is still worth posting (e.g. the
# bot was down at the exact moment); later than that it would be news from last week.
REOPEN_GRACE = timedelta(days=1)
# Indian equity markets close at 15:30 IST; a "before market open" reminder after that,
# or on a weekend, is noise.
MARKET_CLOSE = time(15, 30)


def is_drifting(public_ip: str, primary: str | None, secondary: str | None) -> bool:
    """True when orders from `public_ip` would be rejected: it is not a registered IP.

    Compared as addresses (`bot.ips`), so `2001:DB8::1` and `2001:db8:0::1` are the same
    IP, and so are `::ffff:13.232.10.11` and `13.232.10.11`.
    """
    return not (same_ip(public_ip, primary) or same_ip(public_ip, secondary))


def window_reopened_condition(
    window: ChangeWindow, now: datetime, *, request_waiting: bool, drifting: bool
) -> str | None:
    """The alert condition for "the week lock has ended", or None when no note is due.

    Keyed by the unlock moment, so each lock period gets at most one note however many
    replicas and checks see it.
    """
    unlock = window.next_allowed_at
    if unlock is None or not window.allowed or not (request_waiting or drifting):
        return None
    if now - unlock > REOPEN_GRACE:
        return None
    return f"{WINDOW_REOPENED}:{int(unlock.timestamp())}"


def morning_reminder_condition(now: datetime, remind_at: time, *, logged_in: bool) -> str | None:
    """The alert condition for today's "nobody is logged in" reminder, or None.

    Due on weekdays from `remind_at` (IST) until market close when no valid token exists;
    keyed by the IST date so it posts once per day.
    """
    local = to_ist(now)
    if logged_in or local.weekday() >= 5:
        return None
    if not remind_at <= local.time().replace(tzinfo=None) < MARKET_CLOSE:
        return None
    return f"{MORNING_REMINDER}:{local.date().isoformat()}"
