from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ist import Clock

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

    UpsertInsert = postgresql.Insert | sqlite.Insert

T = TypeVar("T")


class SharedReads(Generic[T]):
    """Concurrent callers of the same read share one query (a single flight per key).

    A burst of fifty `/staticip show` asks the same question fifty times within
    milliseconds; on SQLite each query is several hand-offs to aiosqlite's thread, so the
    burst's own queries were what kept the next commands from being acknowledged. Sharing
    is safe for what it serves (display and the watchers' reads): a caller only ever joins
    a query that began no earlier than this process's last write of the same data
    (`written()` starts a new generation), so nobody is shown a state older than their own
    change; across replicas a shared answer is as fresh as if the caller had come a few
    milliseconds earlier. Nothing is cached once the query returns.
    """

    def __init__(self) -> None:
        self._generation = 0
        self._flights: dict[Hashable, tuple[int, asyncio.Task[T]]] = {}

    def written(self) -> None:
        """The data changed (call after every write, committed or not)."""
        self._generation += 1

    async def read(self, key: Hashable, query: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is None or flight[0] != self._generation or flight[1].done():
            task = asyncio.ensure_future(query())
            flight = self._flights[key] = (self._generation, task)
            task.add_done_callback(lambda done: self._landed(key, done))
        # shield: one caller giving up (its deadline) must not cancel the others' query.
        return await asyncio.shield(flight[1])

    def _landed(self, key: Hashable, task: asyncio.Task[T]) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight[1] is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # every waiter may have given up: theirs to see, not asyncio's


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
