"""Once-a-day jobs claimed by exactly one replica."""

from __future__ import annotations

from datetime import date, datetime

from bot.store._base import Repository
from bot.store.tables import daily_runs

c = daily_runs.c


class DailyRunRepository(Repository):
    async def claim(
        self, job: str, account: str, day: date, *, now: datetime | None = None
    ) -> bool:
        """True for the one caller that claimed `job` for `day` (an atomic insert)."""
        query = (
            self._insert(daily_runs)
            .values(job=job, account=account, day=day.isoformat(), claimed_at=self._now(now))
            .on_conflict_do_nothing(index_elements=[c.job, c.account, c.day])
            .returning(c.job)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None
