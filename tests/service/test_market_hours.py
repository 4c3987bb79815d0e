from __future__ import annotations

from datetime import date, datetime, time

import pytest

from bot.ist import IST
from bot.market_hours import TradingHours, parse_windows
from tests.support.bot_runner import bot_env, settings_from_env


def ist(*args: int) -> datetime:
    return datetime(*args).replace(tzinfo=IST)  # type: ignore[arg-type]


def test_equity_hours_weekdays_only_and_holidays() -> None:
    hours = TradingHours(holidays=frozenset({date(2026, 11, 24)}))
    assert hours.is_open(ist(2026, 11, 25, 9, 15))
    assert hours.is_open(ist(2026, 11, 25, 15, 29, 59))
    assert not hours.is_open(ist(2026, 11, 25, 15, 30))
    assert not hours.is_open(ist(2026, 11, 25, 9, 14))
    assert not hours.is_open(ist(2026, 11, 28, 11, 0))  # Saturday
    assert not hours.is_open(ist(2026, 11, 24, 11, 0))  # a listed holiday


def test_after_close_is_today_at_1535_or_the_next_day() -> None:
    hours = TradingHours()
    assert hours.next_after_close(ist(2026, 11, 25, 11, 0), time(15, 35)) == ist(
        2026, 11, 25, 15, 35
    )
    assert hours.next_after_close(ist(2026, 11, 25, 16, 0), time(15, 35)) == ist(
        2026, 11, 26, 15, 35
    )
    # An evening session (MCX) that covers 15:35 pushes "after the close" past it.
    evening = TradingHours(parse_windows("09:00-23:30"))
    assert evening.next_after_close(ist(2026, 11, 25, 11, 0), time(15, 35)) == ist(
        2026, 11, 28, 15, 35
    )


def test_settings_parse_hours_and_holidays() -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
    )
    settings = settings_from_env(
        {
            **env,
            "TRADING_HOURS": "09:15-15:30,17:00-23:55",
            "MARKET_HOLIDAYS": "2026-12-25, 2027-01-26",
        }
    )
    assert settings.market.windows == ((time(9, 15), time(15, 30)), (time(17, 0), time(23, 55)))
    assert settings.market.holidays == {date(2026, 12, 25), date(2027, 1, 26)}
    for bad in ("15:30-09:15", "nine-ten", "09:15"):
        with pytest.raises(Exception, match="trading_hours"):
            settings_from_env({**env, "TRADING_HOURS": bad})
