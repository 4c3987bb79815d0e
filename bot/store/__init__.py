"""Persistence: SQLAlchemy 2 Core on an async engine, one code path for SQLite and PostgreSQL."""

from bot.store.database import Database, normalise_url, open_database

__all__ = ["Database", "normalise_url", "open_database"]
