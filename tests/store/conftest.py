"""Database fixtures for both backends.

The helpers are plain functions/classes so they can move to the shared conftest:
`sqlite_url(tmp_path)`, `postgres_schema_url()` (a context manager yielding a URL bound
to a fresh schema, dropped afterwards) and `FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import Database, open_database
from tests.support.databases import SECRET, FakeClock, database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(db_url: str, clock: FakeClock) -> AsyncIterator[Database]:
    database = await open_database(db_url, clock=clock, secret_key=SECRET)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def replica(db_url: str, clock: FakeClock, db: Database) -> AsyncIterator[Database]:
    """A second, independent Database on the same data: another bot replica."""
    database = await open_database(db_url, clock=clock, secret_key=SECRET)
    try:
        yield database
    finally:
        await database.close()
