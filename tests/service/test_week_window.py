from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from bot.ist import IST
from bot.week_window import (
    WEEK,
    ChangeWindow,
    change_window,
    first_monday_after,
    next_allowed_after,
)


def ist(*args: int) -> datetime:
    return datetime(*args).replace(tzinfo=IST)  # type: ignore[arg-type]


# Years 2000..2100, any second, as aware UTC; biased towards IST midnight and week edges.
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)
ist_boundaries = st.builds(
    lambda day, delta: (
        datetime(2000, 1, 3, tzinfo=IST) + timedelta(days=day) + timedelta(seconds=delta)
    ),
    st.integers(min_value=0, max_value=365 * 100),
    st.integers(min_value=-2, max_value=2) | st.sampled_from([-3600, 3600, -1, 0, 1]),
)
moments = instants | ist_boundaries
offsets = st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30))


def test_never_changed_is_allowed() -> None:
    window = change_window(None, None, datetime(2026, 1, 1, tzinfo=UTC))
    assert window == ChangeWindow(allowed=True, next_allowed_at=None, last_change_at=None)


def test_wednesday_change_unlocks_next_wednesday_same_time() -> None:
    last = ist(2026, 11, 25, 10, 0)
    assert last.strftime("%a") == "Wed"
    window = change_window(last, None, ist(2026, 12, 2, 9, 59))
    assert window.next_allowed_at == ist(2026, 12, 2, 10, 0)
    assert not window.allowed
    assert change_window(last, None, ist(2026, 12, 2, 10, 0)).allowed


def test_sunday_late_change_is_still_locked_for_seven_days_not_until_monday() -> None:
    # Monday 30 Nov 00:00 is only an hour later; 7 days is the later bound.
    last = ist(2026, 11, 29, 23, 0)
    assert last.strftime("%a") == "Sun"
    assert next_allowed_after(last) == ist(2026, 12, 6, 23, 0)
    assert first_monday_after(last) == ist(2026, 11, 30, 0, 0)


def test_monday_midnight_change_unlocks_next_monday_midnight() -> None:
    last = ist(2026, 11, 30, 0, 0)
    assert first_monday_after(last) == ist(2026, 12, 7, 0, 0)
    assert next_allowed_after(last) == ist(2026, 12, 7, 0, 0)


def test_midnight_is_ist_not_utc() -> None:
    # 18:30 UTC on Sunday is already Monday 00:00 IST.
    last = datetime(2026, 11, 29, 18, 30, tzinfo=UTC)
    assert first_monday_after(last) == ist(2026, 12, 7, 0, 0)
    # One second earlier is Sunday 23:59:59 IST: the next Monday is one second later.
    assert first_monday_after(last - timedelta(seconds=1)) == ist(2026, 11, 30, 0, 0)


def test_year_end() -> None:
    last = ist(2026, 12, 31, 23, 59, 59)
    assert next_allowed_after(last) == ist(2027, 1, 7, 23, 59, 59)
    assert first_monday_after(last) == ist(2027, 1, 4, 0, 0)


def test_later_of_the_two_slots_counts() -> None:
    window = change_window(ist(2026, 11, 2, 9, 0), ist(2026, 11, 25, 10, 0), ist(2026, 11, 26))
    assert window.last_change_at == ist(2026, 11, 25, 10, 0)
    assert window.next_allowed_at == ist(2026, 12, 2, 10, 0)
    assert not window.allowed


def test_future_timestamp_stays_locked() -> None:
    now = ist(2026, 11, 25, 10, 0)
    window = change_window(now + timedelta(hours=3), None, now)
    assert not window.allowed
    assert window.next_allowed_at == now + timedelta(hours=3) + WEEK


def test_absurd_far_future_timestamp_does_not_crash_and_stays_locked() -> None:
    window = change_window(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), None, ist(2026, 1, 1))
    assert not window.allowed


@given(last=moments)
@example(last=ist(2026, 11, 29, 23, 0))
@example(last=ist(2026, 11, 30, 0, 0))
@example(last=ist(2026, 12, 31, 23, 59, 59))
def test_next_allowed_is_a_monday_midnight_or_exactly_a_week_later(last: datetime) -> None:
    nxt = next_allowed_after(last).astimezone(IST)
    monday_midnight = nxt.weekday() == 0 and nxt.time() == datetime.min.time()
    assert monday_midnight or nxt == last + WEEK
    assert nxt >= last + WEEK
    assert nxt > last


@given(last=moments)
def test_first_monday_is_strictly_after_and_within_a_week(last: datetime) -> None:
    monday = first_monday_after(last)
    assert monday.weekday() == 0
    assert (monday.hour, monday.minute, monday.second, monday.microsecond) == (0, 0, 0, 0)
    assert last < monday <= last + WEEK


@given(primary=st.none() | moments, secondary=st.none() | moments, offset=offsets)
def test_allowed_iff_now_at_or_after_next_allowed(
    primary: datetime | None, secondary: datetime | None, offset: timedelta
) -> None:
    # `now` is spread around the stamps, including before them (clock skew).
    base = max((t for t in (primary, secondary) if t is not None), default=None)
    now = (base or datetime(2026, 1, 1, tzinfo=UTC)) + offset
    window = change_window(primary, secondary, now)
    if base is None:
        assert window.allowed and window.next_allowed_at is None
        return
    assert window.last_change_at == base
    assert window.next_allowed_at is not None
    assert window.allowed == (now >= window.next_allowed_at)
    if now < base:
        assert not window.allowed


@given(a=moments, b=moments)
def test_monotonic_in_last_change(a: datetime, b: datetime) -> None:
    early, late = sorted((a, b))
    assert next_allowed_after(early) <= next_allowed_after(late)


@given(primary=moments, secondary=moments, now=moments)
def test_symmetric_in_the_two_slots(primary: datetime, secondary: datetime, now: datetime) -> None:
    assert change_window(primary, secondary, now) == change_window(secondary, primary, now)
