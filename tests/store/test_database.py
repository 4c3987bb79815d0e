from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)

from bot.store import Database, normalise_url, open_database
from bot.store.models import TokenSource
from bot.store.tables import SCHEMA_FINGERPRINT, SCHEMA_VERSION, metadata, schema_version
from tests.support.databases import SECRET, FakeClock, database_url, statements_sent


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/bot.db", "sqlite+aiosqlite:///data/bot.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@h:5432/d", "postgresql+psycopg://u:***@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_normalise_url(given: str, expected: str) -> None:
    assert str(normalise_url(given)) == expected


@pytest.mark.parametrize("bad", ["mysql://u@h/d", "not a url"])
def test_unsupported_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_url(bad)


async def test_reopen_keeps_rows(db_url: str, clock: FakeClock) -> None:
    first = await open_database(db_url, clock=clock, secret_key=SECRET)
    entry = await first.audit.append("default", "requested", "U1")
    await first.create_schema()  # idempotent on the same engine too
    await first.close()
    second = await open_database(db_url, clock=clock, secret_key=SECRET)
    try:
        page = await second.audit.page("default")
        assert page.entries == (entry,)
        async with second.engine.connect() as conn:
            version = (await conn.execute(select(schema_version.c.version))).scalar_one()
        assert version == SCHEMA_VERSION
        assert await second.ping()
    finally:
        await second.close()


async def test_migration_adds_missing_columns_without_losing_rows(
    db_url: str, clock: FakeClock
) -> None:
    # An "old" tokens table without invalidated_reason, and change_requests without the
    # columns added later (version, failure_reason, card_ts...).
    old = MetaData()
    Table(
        "tokens",
        old,
        Column("account", String(64), primary_key=True),
        Column("ciphertext", LargeBinary, nullable=False),
        Column("state", String(16), nullable=False),
        Column("obtained_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("obtained_via", String(16), nullable=False),
        Column("user_id", String(64)),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    cols: list[Column[Any]] = [
        Column("id", String(32), primary_key=True),
        Column("account", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("requester_id", String(64), nullable=False),
        Column("reason", Text, nullable=False),
        Column("current_primary", String(64)),
        Column("current_secondary", String(64)),
        Column("proposed_primary", String(64), nullable=False),
        Column("proposed_secondary", String(64)),
        Column("open_slot", String(64)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    ]
    Table("change_requests", old, *cols)
    db0 = await open_database(db_url, clock=clock, create_schema=False)
    async with db0.engine.begin() as conn:
        await conn.run_sync(old.create_all)
        await conn.execute(
            text(
                "INSERT INTO change_requests (id, account, state, requester_id, reason, "
                "proposed_primary, open_slot, created_at, expires_at, updated_at) VALUES "
                "('r-old1', 'default', 'pending', 'U1', 'old', '8.8.8.8', 'default', :t, :t, :t), "
                "('r-old2', 'default', 'applied', 'U1', 'old', '8.8.8.8', NULL, :t, :t, :t)"
            ),
            {"t": clock.now},
        )
    await db0.close()

    db = await open_database(db_url, clock=clock, secret_key=SECRET)
    try:
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("change_requests")}
            )
            token_cols = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("tokens")}
            )
        assert {"open_slot", "version", "failure_reason", "card_ts"} <= columns
        assert "invalidated_reason" in token_cols
        old_open = await db.requests.get("r-old1")
        assert old_open is not None and old_open.version == 1 and old_open.reason == "old"
        # The old open row still holds the account's one open-request slot.
        assert await db.requests.get_open("default") == old_open
        assert (await db.requests.get("r-old2")) is not None
        saved = await db.tokens.save(
            "default",
            "tok",
            obtained_via=TokenSource.SEED,
            expires_at=clock.now + timedelta(hours=1),
        )
        assert saved.invalidated_reason is None
    finally:
        await db.close()


async def test_sqlite_pragmas_and_parent_dir(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "bot.db"
    db = await open_database(f"sqlite:///{path}")
    try:
        assert path.exists()
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 15_000
    finally:
        await db.close()


async def test_sqlite_in_memory_works() -> None:
    db = await open_database("sqlite://")
    try:
        assert await db.alerts.raise_alert("k")
        assert not await db.alerts.raise_alert("k")
    finally:
        await db.close()


async def test_ping_fails_cleanly_when_unreachable() -> None:
    db = await open_database(
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", create_schema=False
    )
    try:
        assert await db.ping(timeout_s=5) is False
    finally:
        await db.close()


async def _columns(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns(table)})


async def test_a_current_schema_costs_one_select_at_start(db_url: str, clock: FakeClock) -> None:
    first = await open_database(db_url, clock=clock)
    await first.close()
    db = await open_database(db_url, clock=clock, create_schema=False)
    try:
        with statements_sent(db.engine) as sent:
            await db.create_schema()
        # SQLite's explicit BEGIN aside: one SELECT of the version row. No reflection, no
        # DDL, no lock, no write.
        queries = [s for s in sent if s.upper() != "BEGIN"]
        assert len(queries) == 1, sent
        assert queries[0].upper().startswith("SELECT")
        assert "schema_version" in queries[0]
    finally:
        await db.close()


async def test_a_new_database_gets_every_table_and_its_fingerprint(
    db_url: str, clock: FakeClock
) -> None:
    db = await open_database(db_url, clock=clock)
    try:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            row = (await conn.execute(select(schema_version))).one()
        assert tables >= {table.name for table in metadata.sorted_tables}
        assert (row.version, row.fingerprint) == (SCHEMA_VERSION, SCHEMA_FINGERPRINT)
    finally:
        await db.close()


@pytest.mark.parametrize("older", ["other fingerprint", "no fingerprint column"])
async def test_a_schema_an_older_bot_migrated_is_migrated_again(
    db_url: str, clock: FakeClock, older: str
) -> None:
    """Same SCHEMA_VERSION, but a column this bot added since is missing: the stored
    fingerprint (or its absence, before fingerprints) sends start-up down the full path."""
    first = await open_database(db_url, clock=clock)
    async with first.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE change_requests DROP COLUMN card_ts"))
        if older == "other fingerprint":
            await conn.execute(text("UPDATE schema_version SET fingerprint = 'older'"))
        else:
            await conn.execute(text("ALTER TABLE schema_version DROP COLUMN fingerprint"))
    await first.close()

    db = await open_database(db_url, clock=clock, secret_key=SECRET)
    try:
        assert "card_ts" in await _columns(db, "change_requests")
        async with db.engine.connect() as conn:
            row = (await conn.execute(select(schema_version))).one()
        assert (row.version, row.fingerprint) == (SCHEMA_VERSION, SCHEMA_FINGERPRINT)
        assert await db.schema_problems() == []
    finally:
        await db.close()


@pytest.mark.postgres
async def test_replicas_migrating_a_new_postgresql_schema_together_take_turns(
    clock: FakeClock, tmp_path: Path
) -> None:
    """The advisory lock: without it, simultaneous CREATE TABLEs collide."""
    with database_url("postgresql", tmp_path) as url:
        replicas = [await open_database(url, clock=clock, create_schema=False) for _ in range(4)]
        try:
            await asyncio.gather(*(replica.create_schema() for replica in replicas))
            assert await replicas[0].schema_problems() == []
            async with replicas[0].engine.connect() as conn:
                rows = (await conn.execute(select(schema_version))).all()
            assert [(r.version, r.fingerprint) for r in rows] == [
                (SCHEMA_VERSION, SCHEMA_FINGERPRINT)
            ]
        finally:
            for replica in replicas:
                await replica.close()
