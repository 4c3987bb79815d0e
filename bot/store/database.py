"""Opening the database, creating and migrating the schema, readiness."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, event, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import Column, CreateColumn

from bot.ist import Clock, system_clock
from bot.store.alerts import AlertRepository
from bot.store.approvals import ApprovalRepository
from bot.store.audit import AuditLog
from bot.store.crypto import TokenCipher
from bot.store.daily_runs import DailyRunRepository
from bot.store.deliveries import DeliveryRepository
from bot.store.moves import MoveRepository
from bot.store.oauth_states import OAuthStateRepository
from bot.store.requests import RequestRepository
from bot.store.tables import SCHEMA_FINGERPRINT, SCHEMA_VERSION, metadata, schema_version
from bot.store.token_requests import TokenRequestRepository
from bot.store.tokens import TokenRepository
from bot.store.week_refusals import WeekRefusalRepository

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
# Any constant; serialises concurrent create_schema() calls of several replicas.
_PG_SCHEMA_LOCK = 0x5174_1C1B


def normalise_url(url: str) -> URL:
    """Map the accepted spellings onto the two async drivers used everywhere."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError("DATABASE_URL is not a valid URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///path or postgresql://")


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _sqlite_engine(url: URL) -> AsyncEngine:
    extra: dict[str, Any] = {}
    if _is_memory(url):
        extra["poolclass"] = StaticPool
    else:
        Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **extra)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (the
        # module's implicit BEGIN skips DDL and SELECT); see `_on_begin`.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not _is_memory(url):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


class Database:
    """The engine plus one small repository per table family."""

    def __init__(
        self, engine: AsyncEngine, *, clock: Clock = system_clock, secret_key: str | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        cipher = TokenCipher(secret_key) if secret_key else None
        self.requests = RequestRepository(engine, clock)
        self.audit = AuditLog(engine, clock)
        self.tokens = TokenRepository(engine, clock, cipher)
        self.oauth_states = OAuthStateRepository(engine, clock)
        self.token_requests = TokenRequestRepository(engine, clock)
        self.alerts = AlertRepository(engine, clock)
        self.deliveries = DeliveryRepository(engine, clock)
        self.daily_runs = DailyRunRepository(engine, clock)
        self.week_refusals = WeekRefusalRepository(engine, clock)
        self.approvals = ApprovalRepository(engine, clock)
        self.moves = MoveRepository(engine, clock)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    async def create_schema(self) -> None:
        """Create missing tables, columns and indexes; never drops or rewrites data.

        When the stored version and fingerprint are this bot's (every start after the first
        on a given schema), that one SELECT is all: nothing is reflected, locked or written.
        Otherwise the migration runs in one transaction, under an advisory lock on
        PostgreSQL (replicas starting together take turns; the second finds it done)."""
        if await self._schema_is_current():
            return
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                await conn.run_sync(_migrate, self.clock)

    async def _schema_is_current(self) -> bool:
        query = select(schema_version.c.version, schema_version.c.fingerprint).where(
            schema_version.c.id == 1
        )
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        except DBAPIError:
            # No schema_version table or no fingerprint column yet: a new database or one
            # an older bot migrated. (An unreachable database fails the migration next.)
            return False
        return row is not None and (row.version, row.fingerprint) == (
            SCHEMA_VERSION,
            SCHEMA_FINGERPRINT,
        )

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """For /readyz: can we run a query right now?"""
        try:
            async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("database ping failed: %s", type(exc).__name__)
            return False
        return True

    async def schema_problems(self) -> list[str]:
        """What start-up's migration would still have to do (read only): missing tables or
        columns, or a schema version other than this bot's. Empty when migrated."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_schema_problems)

    async def close(self) -> None:
        await self.engine.dispose()


def connect_database(
    url: str, *, clock: Clock = system_clock, secret_key: str | None = None
) -> Database:
    """The database behind `url`, not yet connected (engines connect on first use).

    Accepts `sqlite:///path`, `sqlite+aiosqlite:///path`, `postgresql://`, `postgres://`
    and `postgresql+psycopg://`. SQLite gets WAL, foreign keys and a busy timeout.
    """
    normalised = normalise_url(url)
    if normalised.get_backend_name() == "sqlite":
        engine = _sqlite_engine(normalised)
    else:
        engine = create_async_engine(normalised, pool_pre_ping=True)
    return Database(engine, clock=clock, secret_key=secret_key)


async def open_database(
    url: str,
    *,
    clock: Clock = system_clock,
    secret_key: str | None = None,
    create_schema: bool = True,
) -> Database:
    """`connect_database`, then (by default) create/migrate the schema."""
    db = connect_database(url, clock=clock, secret_key=secret_key)
    if create_schema:
        try:
            await db.create_schema()
        except BaseException:
            await db.close()
            raise
    return db


def _migrate(conn: Connection, clock: Clock) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    # Tables created here are complete: only the ones already there are inspected further.
    missing = [table for table in metadata.sorted_tables if table.name not in existing]
    metadata.create_all(conn, tables=missing, checkfirst=False)
    older = [table for table in metadata.sorted_tables if table.name in existing]
    for table in older:
        present = {col["name"] for col in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                _add_column(conn, table, column)
    for table in older:
        present_ix = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in present_ix:
                log.info("creating missing index %s", index.name)
                index.create(conn)
    _record_version(conn, clock)


def _schema_problems(conn: Connection) -> list[str]:
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    problems = [
        f"table {t.name} is missing" for t in metadata.sorted_tables if t.name not in tables
    ]
    for table in metadata.sorted_tables:
        if table.name in tables:
            present = {col["name"] for col in inspector.get_columns(table.name)}
            problems += [
                f"column {table.name}.{c.name} is missing"
                for c in table.columns
                if c.name not in present
            ]
    if schema_version.name in tables:
        version = conn.execute(
            select(schema_version.c.version).where(schema_version.c.id == 1)
        ).scalar_one_or_none()
        if version != SCHEMA_VERSION:
            problems.append(f"schema version is {version}, this bot's is {SCHEMA_VERSION}")
    return problems


def _add_column(conn: Connection, table: Table, column: Column[Any]) -> None:
    if not column.nullable and column.server_default is None:
        raise RuntimeError(
            f"cannot add NOT NULL column {table.name}.{column.name} without a server default"
        )
    spec = CreateColumn(column).compile(dialect=conn.dialect)
    log.info("adding missing column %s.%s", table.name, column.name)
    quoted = conn.dialect.identifier_preparer.format_table(table)
    conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {spec}")


def _record_version(conn: Connection, clock: Clock) -> None:
    row = conn.execute(
        select(schema_version.c.version, schema_version.c.fingerprint).where(
            schema_version.c.id == 1
        )
    ).first()
    ours = {"version": SCHEMA_VERSION, "fingerprint": SCHEMA_FINGERPRINT, "updated_at": clock()}
    if row is None:
        conn.execute(schema_version.insert().values(id=1, **ours))
    elif row.version < SCHEMA_VERSION or (
        row.version == SCHEMA_VERSION and row.fingerprint != SCHEMA_FINGERPRINT
    ):
        conn.execute(schema_version.update().where(schema_version.c.id == 1).values(**ours))
    elif row.version > SCHEMA_VERSION:
        log.warning(
            "database schema version %s is newer than this bot's %s", row.version, SCHEMA_VERSION
        )
