"""Alert dedupe: one post per condition, across replicas."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, true

from bot.store._base import Repository
from bot.store.models import Alert, dump_details
from bot.store.tables import alerts

c = alerts.c


class AlertRepository(Repository):
    async def raise_alert(
        self,
        key: str,
        *,
        now: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> bool:
        """Activate `key`; True only for the one caller that flipped it on (and should post).

        A single INSERT ... ON CONFLICT DO UPDATE ... WHERE NOT active RETURNING: the row
        comes back only if this statement inserted it or flipped it, which both backends
        decide atomically.
        """
        at = self._now(now)
        values = {
            "key": key,
            "active": True,
            "started_at": at,
            "cleared_at": None,
            "last_posted_at": at,
            "details": dump_details(details),
        }
        insert = self._insert(alerts).values(values)
        query = insert.on_conflict_do_update(
            index_elements=[c.key],
            set_={k: insert.excluded[k] for k in values if k != "key"},
            where=c.active.is_not(true()),
        ).returning(c.key)
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None

    async def clear_alert(self, key: str, *, now: datetime | None = None) -> bool:
        """Deactivate `key`; True only for the one caller that flipped it off."""
        query = (
            alerts.update()
            .where(c.key == key, c.active.is_(true()))
            .values(active=False, cleared_at=self._now(now))
            .returning(c.key)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None

    async def claim_repost(
        self, key: str, *, min_interval: timedelta, now: datetime | None = None
    ) -> bool:
        """For reminders: True for one caller once `min_interval` has passed since the last post."""
        at = self._now(now)
        query = (
            alerts.update()
            .where(
                c.key == key,
                c.active.is_(true()),
                or_(c.last_posted_at.is_(None), c.last_posted_at <= at - min_interval),
            )
            .values(last_posted_at=at)
            .returning(c.key)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).first() is not None

    async def get(self, key: str) -> Alert | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(alerts).where(c.key == key))).mappings().first()
        return None if row is None else Alert.from_row(row)

    async def list_active(self) -> list[Alert]:
        async with self._engine.connect() as conn:
            rows = (
                (await conn.execute(select(alerts).where(c.active.is_(true())).order_by(c.key)))
                .mappings()
                .all()
            )
        return [Alert.from_row(r) for r in rows]
