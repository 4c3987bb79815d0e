"""A clock tests can set and advance; injected into the bot (and the emulator has its own).

A fresh clock starts at the real time, or at `STATICIP_TEST_START` (an ISO 8601 moment with
its offset) to replay the hour a run failed at. A test that advances the clock after a login
first calls `clear_of_token_expiry`, so that the daily 03:30 IST expiry never lands inside
it and the test does not depend on the hour CI runs. (A replay of a past hour cannot cover a
test that checks against the wall clock, such as the README's webhook verifier.)
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

from bot.ist import next_token_expiry


def default_start() -> datetime:
    replay = os.environ.get("STATICIP_TEST_START")
    start = datetime.fromisoformat(replay) if replay else datetime.now(UTC)
    if start.tzinfo is None:
        raise ValueError("STATICIP_TEST_START needs an offset, e.g. 2026-12-02T21:50:00+00:00")
    return start


class MutableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or default_start()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("aware datetimes only")
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def clear_of_token_expiry(self, margin: timedelta) -> None:
        """Move just past the next 03:30 IST token expiry if it is less than `margin` away."""
        with self._lock:
            expiry = next_token_expiry(self._now)
            if expiry - self._now < margin:
                self._now = expiry + timedelta(minutes=1)
