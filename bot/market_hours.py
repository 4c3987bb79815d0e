"""Trading hours: when a change (which logs out every session) would stop the trading
system mid-session, and when "after the close" is.

Pure rules, IST. Weekdays only; listed holidays are closed all day. The windows default to
NSE/BSE equity (09:15-15:30); an MCX evening session can be added as a second window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.ist import to_ist

EQUITY_HOURS = ((time(9, 15), time(15, 30)),)


def parse_windows(text: str) -> tuple[tuple[time, time], ...]:
    """`09:15-15:30` or `09:15-15:30,17:00-23:55` → ((start, end), …); raises ValueError."""
    windows = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        start_text, sep, end_text = part.partition("-")
        if not sep:
            raise ValueError(f"{part!r} is not a window like 09:15-15:30")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
        if end <= start:
            raise ValueError(f"{part!r} ends before it starts")
        windows.append((start, end))
    return tuple(windows)


@dataclass(frozen=True, slots=True)
class TradingHours:
    windows: tuple[tuple[time, time], ...] = EQUITY_HOURS
    holidays: frozenset[date] = field(default_factory=frozenset)

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def is_open(self, moment: datetime) -> bool:
        local = to_ist(moment)
        if not self.is_trading_day(local.date()):
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.windows)

    def next_after_close(self, moment: datetime, at: time) -> datetime:
        """The first `at` (IST) at or after `moment` that is outside trading hours: "after
        the close" for a change approved during the session."""
        local = to_ist(moment)
        candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
        for _ in range(400):
            if candidate >= local and not self.is_open(candidate):
                return candidate
            candidate += timedelta(days=1)
        return candidate
