"""Test databases on both backends: SQLite files and throw-away PostgreSQL schemas.

PostgreSQL runs on 127.0.0.1:5432 (trust auth, database `test`) on development and CI
machines. Without it the PostgreSQL variants skip, unless STATICIP_REQUIRE_POSTGRES is set
(CI sets it), when they fail.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

PG_URL = os.environ.get(
    "STATICIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SECRET = "test-secret-key"


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs, white space folded."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


class FakeClock:
    """A settable clock; `Database(clock=...)` reads it for every default `now`."""

    def __init__(self, start: datetime = datetime(2026, 11, 25, 4, 30, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'bot.sqlite3'}"


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@functools.cache
def postgres_available(url: str = PG_URL) -> bool:
    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def postgres_schema_url(url: str = PG_URL) -> Iterator[str]:
    """A URL whose connections live in a brand-new schema, dropped on exit."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq_url(url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_libpq_url(url), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield sqlite_url(tmp_path)
        return
    if not postgres_available():
        if os.environ.get("STATICIP_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    with postgres_schema_url() as url:
        yield url
