"""A clock tests can set and advance; injected into the bot (and the emulator has its own)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class MutableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
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
