"""The watchers' rules, as pure functions."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot.ist import IST
from bot.watch.rules import is_drifting, morning_reminder_condition, window_reopened_condition
from bot.week_window import ChangeWindow

UNLOCK = datetime(2026, 12, 7, 10, 0, tzinfo=IST)
OPEN = ChangeWindow(allowed=True, next_allowed_at=UNLOCK, last_change_at=UNLOCK - timedelta(7))


def test_drift_compares_addresses_not_strings() -> None:
    assert not is_drifting("2001:DB8:0::1", None, "2001:db8::1")
    assert not is_drifting("203.0.113.7", "203.0.113.7", None)
    assert is_drifting("203.0.113.8", "203.0.113.7", "203.0.113.9")
    assert is_drifting("203.0.113.7", None, None)  # nothing registered: rejected too


def test_window_note_only_when_someone_waits_and_only_for_a_day() -> None:
    after = UNLOCK + timedelta(minutes=5)
    key = window_reopened_condition(OPEN, after, request_waiting=True, drifting=False)
    assert key == f"window_reopened:{int(UNLOCK.timestamp())}"
    assert window_reopened_condition(OPEN, after, request_waiting=False, drifting=True) == key
    assert window_reopened_condition(OPEN, after, request_waiting=False, drifting=False) is None
    late = UNLOCK + timedelta(days=2)
    assert window_reopened_condition(OPEN, late, request_waiting=True, drifting=True) is None
    closed = ChangeWindow(allowed=False, next_allowed_at=UNLOCK, last_change_at=None)
    assert window_reopened_condition(closed, after, request_waiting=True, drifting=True) is None
    never = ChangeWindow(allowed=True, next_allowed_at=None, last_change_at=None)
    assert window_reopened_condition(never, after, request_waiting=True, drifting=True) is None


def test_morning_reminder_on_weekdays_between_the_time_and_market_close() -> None:
    nine = time(9, 0)
    wed = datetime(2026, 12, 2, 9, 0, tzinfo=IST)
    assert morning_reminder_condition(wed, nine, logged_in=False) == "morning_reminder:2026-12-02"
    assert morning_reminder_condition(wed, nine, logged_in=True) is None
    assert morning_reminder_condition(wed - timedelta(minutes=1), nine, logged_in=False) is None
    assert (
        morning_reminder_condition(wed.replace(hour=15, minute=30), nine, logged_in=False) is None
    )
    saturday = datetime(2026, 12, 5, 9, 30, tzinfo=IST)
    assert morning_reminder_condition(saturday, nine, logged_in=False) is None
