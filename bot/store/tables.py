"""Table definitions. New columns must be nullable or have a server default: see migrate."""

from __future__ import annotations

import hashlib

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)

from bot.store.types import UtcDateTime

SCHEMA_VERSION = 1

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # SCHEMA_FINGERPRINT of the bot that last migrated: equal to ours (and the version
    # too), start-up skips the migration.
    Column("fingerprint", String(64)),
)

change_requests = Table(
    "change_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("requester_id", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("current_primary", String(64)),
    Column("current_secondary", String(64)),
    Column("proposed_primary", String(64), nullable=False),
    Column("proposed_secondary", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UtcDateTime),
    Column("applied_at", UtcDateTime),
    Column("failure_reason", Text),
    Column("card_channel", String(64)),
    Column("card_ts", String(64)),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("updated_at", UtcDateTime, nullable=False),
    # Equal to `account` while the request is open, NULL once closed: the unique index
    # makes "at most one open request per account" hold across replicas, portably.
    Column("open_slot", String(64)),
    # When a "scheduled" request is applied (IST time chosen by "Approve for after close").
    Column("scheduled_at", UtcDateTime),
    # The host move (`host_moves`) this request is one account's part of, else NULL.
    Column("move_id", String(32)),
    Index("ix_change_requests_account_state", "account", "state"),
    Index("ix_change_requests_move_id", "move_id"),
    Index("uq_change_requests_open_slot", "open_slot", unique=True),
    Index("ix_change_requests_state_expires_at", "state", "expires_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("account", String(64), nullable=False),
    Column("request_id", String(32)),
    Column("event", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("details", Text, nullable=False, server_default=text("'{}'")),
    # Both backends walk a b-tree backwards, so this serves "newest first" per account.
    Index("ix_audit_events_account_id", "account", "id"),
    Index("ix_audit_events_request_id", "request_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("obtained_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("obtained_via", String(16), nullable=False),
    Column("user_id", String(64)),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("invalidated_reason", Text),
)

# The tokens of an account's other Upstox apps (the trading systems'), one row per app; the
# bot's own app (`default`) keeps its row in `tokens`. Same columns, keyed by (account, app).
app_tokens = Table(
    "app_tokens",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("app", String(64), primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("obtained_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("obtained_via", String(16), nullable=False),
    Column("user_id", String(64)),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("invalidated_reason", Text),
)

oauth_states = Table(
    "oauth_states",
    metadata,
    Column("nonce", String(128), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("slack_user_id", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("consumed_at", UtcDateTime),
    # The Upstox app the login is for: its token is stored for this app only.
    Column("app", String(64), nullable=False, server_default=text("'default'")),
)

token_requests = Table(
    "token_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    Column("app", String(64), nullable=False, server_default=text("'default'")),
    Index("ix_token_requests_account_completed_at", "account", "completed_at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("active", Boolean, nullable=False, server_default=false()),
    Column("started_at", UtcDateTime),
    Column("cleared_at", UtcDateTime),
    Column("last_posted_at", UtcDateTime),
    Column("details", Text, nullable=False, server_default=text("'{}'")),
)

# Every hand-over of a token to a consumer (the pickup proof): a file written, a fetch of
# GET /token by an API key (its fingerprint, never the key), each webhook attempt.
token_deliveries = Table(
    "token_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("app", String(64), nullable=False),
    Column("sink", String(16), nullable=False),
    Column("token_issued_at", UtcDateTime),
    Column("at", UtcDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("detail", Text),
    Column("key_fingerprint", String(32)),
    Index("ix_token_deliveries_account_app_sink_id", "account", "app", "sink", "id"),
)

# A once-a-day job that must run once across replicas (the morning Access Token Request):
# the primary key lets exactly one replica claim each day.
daily_runs = Table(
    "daily_runs",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("claimed_at", UtcDateTime, nullable=False),
)

# Every UDAPI1185 that refused a change the bot's week rule allowed: what Upstox enforced.
week_refusals = Table(
    "week_refusals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("refused_at", UtcDateTime, nullable=False),
    Column("last_change_at", UtcDateTime, nullable=False),
    Column("request_id", String(32)),
    Index("ix_week_refusals_account_id", "account", "id"),
)

# One row per approver of a request (APPROVALS_REQUIRED > 1): the unique index makes a
# repeated click, a Slack retry or a second replica count once.
request_approvals = Table(
    "request_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False),
    Column("approver_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("uq_request_approvals_request_id_approver_id", "request_id", "approver_id", unique=True),
)


# A host move: one request to move several accounts to the same IPs, approved once. Each
# account's part is a change request (`change_requests.move_id`) with its own window, slot,
# re-check and single PUT; `refused` lists the accounts left out when it was made, and why.
host_moves = Table(
    "host_moves",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("requester_id", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("proposed_primary", String(64), nullable=False),
    Column("proposed_secondary", String(64)),
    Column("accounts", Text, nullable=False, server_default=text("'[]'")),
    Column("refused", Text, nullable=False, server_default=text("'{}'")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("card_channel", String(64)),
    Column("card_ts", String(64)),
)


def _fingerprint(tables: MetaData) -> str:
    """A digest of what the migration creates when missing: every table, column and index
    by name. It changes whenever one is added, so a database migrated by an older bot (even
    one with the same SCHEMA_VERSION) is migrated again, without relying on a version bump."""
    parts = []
    for table in tables.sorted_tables:
        columns = ",".join(column.name for column in table.columns)
        indexes = ",".join(sorted(str(index.name) for index in table.indexes))
        parts.append(f"{table.name}({columns})[{indexes}]")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


SCHEMA_FINGERPRINT = _fingerprint(metadata)
