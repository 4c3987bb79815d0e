from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from bot.ist import IST
from bot.week_window import (
    WEEK,
    ChangeWindow,
    LearnedRule,
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


def test_wednesday_change_unlocks_next_monday_midnight() -> None:
    last = ist(2026, 11, 25, 10, 0)
    assert last.strftime("%a") == "Wed"
    window = change_window(last, None, ist(2026, 11, 29, 23, 59, 59))
    assert window.next_allowed_at == ist(2026, 11, 30, 0, 0)
    assert window.rule == "calendar_week"
    assert not window.allowed
    assert change_window(last, None, ist(2026, 11, 30, 0, 0)).allowed


def test_sunday_late_change_unlocks_an_hour_later_on_monday() -> None:
    # The calendar week ends Sunday 24:00 IST: a new week, a new change.
    last = ist(2026, 11, 29, 23, 0)
    assert last.strftime("%a") == "Sun"
    assert next_allowed_after(last) == ist(2026, 11, 30, 0, 0)
    assert change_window(last, None, ist(2026, 11, 30, 0, 5)).allowed


def test_learned_rolling_week_pushes_the_estimate_and_says_so() -> None:
    last = ist(2026, 11, 29, 23, 0)
    # Upstox refused a change 1 h 5 min after that one: it is not the calendar week.
    learned = LearnedRule(refused_at=ist(2026, 11, 30, 0, 5), last_change_at=last)
    assert learned.min_gap == WEEK
    window = change_window(last, None, ist(2026, 12, 3, 12, 0), learned)
    assert window.next_allowed_at == ist(2026, 12, 6, 23, 0)
    assert window.calendar_opens_at == ist(2026, 11, 30, 0, 0)
    assert window.rule == "learned"
    assert not window.allowed
    assert "refused a change 1 hour after the last one" in learned.describe()
    # A Monday change: the calendar week (next Monday) and 7 days agree.
    monday = change_window(ist(2026, 11, 30, 0, 0), None, ist(2026, 12, 1), learned)
    assert monday.next_allowed_at == ist(2026, 12, 7, 0, 0)
    assert monday.rule == "calendar_week"


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
    assert next_allowed_after(last) == ist(2027, 1, 4, 0, 0)
    assert first_monday_after(last) == ist(2027, 1, 4, 0, 0)


def test_later_of_the_two_slots_counts() -> None:
    window = change_window(ist(2026, 11, 2, 9, 0), ist(2026, 11, 25, 10, 0), ist(2026, 11, 26))
    assert window.last_change_at == ist(2026, 11, 25, 10, 0)
    assert window.next_allowed_at == ist(2026, 11, 30, 0, 0)
    assert not window.allowed


def test_future_timestamp_stays_locked() -> None:
    now = ist(2026, 11, 25, 10, 0)
    window = change_window(now + timedelta(hours=3), None, now)
    assert not window.allowed
    assert window.next_allowed_at == ist(2026, 11, 30, 0, 0)


def test_absurd_far_future_timestamp_does_not_crash_and_stays_locked() -> None:
    window = change_window(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), None, ist(2026, 1, 1))
    assert not window.allowed


@given(last=moments)
@example(last=ist(2026, 11, 29, 23, 0))
@example(last=ist(2026, 11, 30, 0, 0))
@example(last=ist(2026, 12, 31, 23, 59, 59))
def test_next_allowed_is_the_next_monday_midnight(last: datetime) -> None:
    nxt = next_allowed_after(last).astimezone(IST)
    assert nxt.weekday() == 0 and nxt.time() == datetime.min.time()
    assert last < nxt <= last + WEEK
    # ... in the calendar week after the one of `last`.
    assert (nxt - timedelta(days=7)).date() <= last.astimezone(IST).date()
    learned = LearnedRule(refused_at=last + timedelta(days=2), last_change_at=last)
    assert next_allowed_after(last, learned) == max(nxt, last + WEEK)


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
