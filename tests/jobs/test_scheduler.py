"""The in-process scheduler: first run after one interval, backoff, isolation, daily runs."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.ist import IST
from bot.scheduler import Scheduler
from bot.upstox.errors import UpstoxRateLimited, UpstoxUnavailable
from tests.support.clock import MutableClock


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


def scheduler(clock: MutableClock | None = None, **kwargs: object) -> Scheduler:
    return Scheduler(clock or MutableClock(), rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


async def test_jobs_run_periodically_but_not_at_start_and_stop_cleanly() -> None:
    s = scheduler()
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)

    s.add("tick", timedelta(seconds=0.02), job)
    s.start()
    assert runs == []  # the first run waits one interval
    await wait_for(lambda: len(runs) >= 3)
    await s.stop()
    done = len(runs)
    # Nothing to wait on for "no more runs": give it five intervals' worth of time.
    await asyncio.sleep(0.1)
    assert len(runs) == done and not s.running


async def test_a_failing_job_is_logged_and_the_others_keep_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = scheduler()
    good: list[int] = []

    async def bad() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        good.append(1)

    s.add("bad", timedelta(seconds=0.01), bad)
    s.add("fine", timedelta(seconds=0.01), fine)
    s.start()
    await wait_for(lambda: s.runs("bad") >= 2 and len(good) >= 2)
    await s.stop()
    assert "job bad failed" in caplog.text
    assert await s.run_now("bad") is False  # logged, not raised
    assert await s.run_now("fine") is True


async def test_upstox_outage_backs_off_exponentially_capped_and_resets_on_success() -> None:
    s = scheduler(max_backoff=timedelta(seconds=40))
    outage = True

    async def job() -> None:
        if outage:
            raise UpstoxUnavailable("down", status=503)

    s.add("check", timedelta(seconds=5), job, jitter=0.0)
    delays = []
    for _ in range(5):
        assert await s.run_now("check") is False
        delays.append(s.next_delay("check"))
    assert delays == [10.0, 20.0, 40.0, 40.0, 40.0]

    outage = False
    assert await s.run_now("check") is True
    assert s.next_delay("check") == 5.0 and s.failures("check") == 0


async def test_rate_limit_retry_after_is_honoured() -> None:
    s = scheduler()

    async def job() -> None:
        raise UpstoxRateLimited("slow down", status=429, retry_after=120)

    s.add("check", timedelta(seconds=5), job, jitter=0.0)
    await s.run_now("check")
    assert s.next_delay("check") == 120.0


async def test_jitter_stays_within_the_fraction() -> None:
    s = scheduler()

    async def job() -> None:
        pass

    s.add("check", timedelta(seconds=100), job, jitter=0.1)
    delays = {s.next_delay("check") for _ in range(50)}
    assert all(90.0 <= d <= 110.0 for d in delays) and len(delays) > 1


async def test_a_job_never_overlaps_itself() -> None:
    s = scheduler()
    active = 0
    most = 0

    async def job() -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.01)
        active -= 1

    s.add("slow", timedelta(minutes=5), job)
    await asyncio.gather(*(s.run_now("slow") for _ in range(5)))
    assert most == 1


class CountingClock(MutableClock):
    """Counts how often the scheduler looked at the time, so a test can wait for "it has
    checked several times" instead of sleeping and hoping."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return super().__call__()


async def test_daily_job_runs_when_the_clock_reaches_the_time_of_day() -> None:
    clock = CountingClock(datetime(2026, 12, 2, 3, 0, tzinfo=IST))
    s = scheduler(clock, daily_poll=timedelta(seconds=0.01))
    runs: list[datetime] = []

    async def job() -> None:
        runs.append(clock())

    async def checked_again(times: int = 5) -> None:
        seen = clock.reads
        await wait_for(lambda: clock.reads >= seen + times)

    s.add_daily("at_0331", time(3, 31), job)
    s.start()
    await checked_again()
    assert runs == []  # 03:00 IST: not yet
    clock.set(datetime(2026, 12, 2, 3, 31, 5, tzinfo=IST))
    await wait_for(lambda: len(runs) == 1)
    await checked_again()
    assert len(runs) == 1  # once that day
    clock.set(datetime(2026, 12, 3, 3, 32, tzinfo=IST).astimezone(UTC))
    await wait_for(lambda: len(runs) == 2)
    await s.stop()


def test_bad_arguments_are_refused() -> None:
    s = scheduler()

    async def job() -> None:
        pass

    with pytest.raises(ValueError):
        s.add("x", timedelta(0), job)
    with pytest.raises(ValueError):
        s.add("x", timedelta(seconds=1), job, jitter=1.5)
    s.add("x", timedelta(seconds=1), job)
    with pytest.raises(ValueError):
        s.add("x", timedelta(seconds=1), job)
