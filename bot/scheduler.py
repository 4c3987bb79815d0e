"""A small in-process scheduler: one asyncio task per job, no broker.

Why in-process: the checks are cheap and idempotent (alerts are deduplicated in the
database), so every replica may run them; nothing needs a leader or a queue.

Rules every job gets for free:
- the first run happens after one interval, not at start-up (tests that don't care about
  jobs see no background calls);
- runs are spread with jitter so replicas don't call Upstox in lock-step;
- after a failure the next run waits exponentially longer (capped), and an Upstox
  rate-limit answer's Retry-After is honoured, so an outage is not hammered;
- a job never overlaps itself (`run_now` and the loop share a lock);
- an exception is logged, never raised into the server.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from bot import metrics
from bot.ist import IST, Clock
from bot.upstox.errors import UpstoxRateLimited, UpstoxUnavailable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]

MAX_BACKOFF = timedelta(hours=1)
DAILY_POLL = timedelta(seconds=30)


@dataclass
class _Entry:
    name: str
    job: Job
    interval: timedelta
    jitter: float
    first_run_after: timedelta | None
    daily_at: time | None = None
    tz: tzinfo = IST
    failures: int = 0
    runs: int = 0
    retry_after: float | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Scheduler:
    def __init__(
        self,
        clock: Clock,
        *,
        max_backoff: timedelta = MAX_BACKOFF,
        daily_poll: timedelta = DAILY_POLL,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._max_backoff = max_backoff
        self._daily_poll = daily_poll
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._entries: dict[str, _Entry] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the jobs run on (set by `start`); tests use it to call `run_now`."""
        return self._loop

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def failures(self, name: str) -> int:
        """Consecutive failed runs of `name` (0 after a success); drives the backoff."""
        return self._entries[name].failures

    def next_delay(self, name: str) -> float:
        """Seconds the loop would wait before the next periodic run of `name` (with jitter)."""
        entry = self._entries[name]
        return max(self._delay(entry), entry.retry_after or 0.0)

    def runs(self, name: str) -> int:
        """How many times `name` has finished a run (successful or not)."""
        return self._entries[name].runs

    def add(
        self,
        name: str,
        interval: timedelta,
        job: Job,
        *,
        jitter: float = 0.1,
        first_run_after: timedelta | None = None,
    ) -> None:
        """Run `job` every `interval` (± `jitter` × interval)."""
        if interval <= timedelta(0):
            raise ValueError("interval must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction of the interval in [0, 1)")
        self._add(_Entry(name, job, interval, jitter, first_run_after))

    def add_daily(self, name: str, at: time, job: Job, *, tz: tzinfo = IST) -> None:
        """Run `job` once a day at `at` (local to `tz`, IST by default), by the injected clock.

        The wait is re-checked against the clock at least every `daily_poll`, so a clock
        that jumps (a suspended host, a test's MutableClock) is noticed promptly.
        """
        self._add(_Entry(name, job, timedelta(days=1), 0.0, None, daily_at=at, tz=tz))

    def _add(self, entry: _Entry) -> None:
        if entry.name in self._entries:
            raise ValueError(f"job {entry.name!r} already added")
        self._entries[entry.name] = entry
        if self._loop is not None:
            self._tasks.append(self._loop.create_task(self._loop_for(entry), name=entry.name))

    def start(self) -> None:
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        for entry in self._entries.values():
            self._tasks.append(self._loop.create_task(self._loop_for(entry), name=entry.name))
        log.info("scheduler started: %s", ", ".join(self._entries) or "no jobs")

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None

    async def run_now(self, name: str) -> bool:
        """Run one job once, now; True if it succeeded. Exceptions are logged, not raised."""
        return await self._run(self._entries[name])

    async def _run(self, entry: _Entry) -> bool:
        async with entry.lock:
            try:
                await entry.job()
            except asyncio.CancelledError:
                raise
            except (UpstoxUnavailable, UpstoxRateLimited) as exc:
                entry.failures += 1
                log.warning("job %s: Upstox unavailable (%s); backing off", entry.name, exc)
                entry.retry_after = getattr(exc, "retry_after", None)
                return False
            except Exception:
                entry.failures += 1
                entry.retry_after = None
                log.exception("job %s failed", entry.name)
                return False
            else:
                entry.failures = 0
                entry.retry_after = None
                return True
            finally:
                entry.runs += 1
                metrics.job_run(entry.name, ok=entry.failures == 0)

    def _delay(self, entry: _Entry) -> float:
        base = entry.interval.total_seconds()
        if entry.failures:
            backoff = base * (2 ** min(entry.failures, 16))
            base = max(base, min(backoff, self._max_backoff.total_seconds()))
        spread = base * entry.jitter
        return max(0.0, base + self._rng.uniform(-spread, spread))

    def next_daily(self, entry_at: time, tz: tzinfo, now: datetime) -> datetime:
        local = now.astimezone(tz)
        due = local.replace(
            hour=entry_at.hour, minute=entry_at.minute, second=entry_at.second, microsecond=0
        )
        if due <= local:
            due += timedelta(days=1)
        return due

    async def _loop_for(self, entry: _Entry) -> None:
        if entry.daily_at is not None:
            await self._daily_loop(entry)
            return
        first = entry.first_run_after
        await asyncio.sleep(first.total_seconds() if first is not None else self._delay(entry))
        while True:
            await self._run(entry)
            await asyncio.sleep(self.next_delay(entry.name))

    async def _daily_loop(self, entry: _Entry) -> None:
        assert entry.daily_at is not None
        due = self.next_daily(entry.daily_at, entry.tz, self._clock())
        while True:
            remaining = (due - self._clock()).total_seconds()
            if remaining > 0:
                await asyncio.sleep(min(remaining, self._daily_poll.total_seconds()))
                continue
            ok = await self._run(entry)
            if ok or entry.failures > 5:
                due = self.next_daily(entry.daily_at, entry.tz, self._clock())
            else:
                # Retry a failed daily run soon (bounded backoff), not tomorrow.
                retry = min(60.0 * 2**entry.failures, self._max_backoff.total_seconds())
                due = self._clock() + timedelta(seconds=retry)
