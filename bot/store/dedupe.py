"""Processed-event keys, so Slack retries and double clicks are handled once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from bot.store._base import Repository
from bot.store.tables import processed_events

c = processed_events.c


class DedupeRepository(Repository):
    async def mark_processed(self, key: str, *, now: datetime | None = None) -> bool:
        """True only the first time `key` is seen, whichever replica sees it."""
        query = (
            self._insert(processed_events)
            .values(key=key, created_at=self._now(now))
            .on_conflict_do_nothing(index_elements=[c.key])
            .returning(c.key)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None

    async def purge(self, older_than: datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(processed_events).where(c.created_at < older_than))
        return result.rowcount
