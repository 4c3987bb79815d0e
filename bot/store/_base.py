from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ist import Clock

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

    UpsertInsert = postgresql.Insert | sqlite.Insert


class Repository:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def _now(self, now: datetime | None) -> datetime:
        return self._clock() if now is None else now

    def _insert(self, table: Table) -> UpsertInsert:
        """An INSERT that knows ON CONFLICT (both backends spell it the same way)."""
        if self._engine.dialect.name == "postgresql":
            # Imported here: `sqlalchemy.dialects.postgresql` loads every PostgreSQL
            # driver's dialect module, which a SQLite bot never needs. (A PostgreSQL engine
            # has already imported it, so this is a dictionary lookup.)
            from sqlalchemy.dialects.postgresql import insert

            return insert(table)
        return sqlite.insert(table)
