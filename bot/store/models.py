"""Rows as frozen dataclasses. Every datetime is aware UTC."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping

from bot.store.request_states import RequestState, is_open

__all__ = [
    "Alert",
    "AuditEntry",
    "AuditEvent",
    "AuditPage",
    "ChangeRequest",
    "NewAuditEvent",
    "OAuthState",
    "RequestState",
    "StoredToken",
    "TokenDelivery",
    "TokenRequest",
    "TokenSource",
    "TokenState",
]


class AuditEvent(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SCHEDULE_MISSED = "schedule_missed"
    APPROVAL = "approval"  # one of several required approvals (APPROVALS_REQUIRED > 1)
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    RECONCILED = "reconciled"
    CORRECTED = "corrected"  # recorded failed, then Upstox's own answer said applied
    LOGGED_IN = "logged_in"
    TOKEN_INVALIDATED = "token_invalidated"  # noqa: S105
    TOKEN_REQUESTED = "token_requested"  # noqa: S105
    ALERT = "alert"
    WEEK_RULE_LEARNED = "week_rule_learned"


class TokenState(StrEnum):
    VALID = "valid"
    INVALIDATED = "invalidated"
    EXPIRED = "expired"


class TokenSource(StrEnum):
    SEED = "seed"
    OAUTH = "oauth"
    NOTIFIER = "notifier"


def _json(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {"value": value}


def dump_details(details: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(details or {}), sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    id: str
    account: str
    state: RequestState
    requester_id: str
    reason: str
    current_primary: str | None
    current_secondary: str | None
    proposed_primary: str
    proposed_secondary: str | None
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    applied_at: datetime | None
    failure_reason: str | None
    card_channel: str | None
    card_ts: str | None
    version: int
    updated_at: datetime
    scheduled_at: datetime | None = None
    move_id: str | None = None
    """The host move this request is one account's part of (see `HostMove`)."""

    @property
    def is_open(self) -> bool:
        return is_open(self.state)

    @classmethod
    def from_row(cls, row: RowMapping) -> ChangeRequest:
        return cls(
            id=row["id"],
            account=row["account"],
            state=RequestState(row["state"]),
            requester_id=row["requester_id"],
            reason=row["reason"],
            current_primary=row["current_primary"],
            current_secondary=row["current_secondary"],
            proposed_primary=row["proposed_primary"],
            proposed_secondary=row["proposed_secondary"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            applied_at=row["applied_at"],
            failure_reason=row["failure_reason"],
            card_channel=row["card_channel"],
            card_ts=row["card_ts"],
            version=row["version"],
            updated_at=row["updated_at"],
            scheduled_at=row.get("scheduled_at"),
            move_id=row.get("move_id"),
        )


@dataclass(frozen=True, slots=True)
class NewAuditEvent:
    """An event to append, optionally in the same transaction as a request change."""

    event: AuditEvent | str
    actor: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    account: str
    request_id: str | None
    event: str
    actor: str
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: RowMapping) -> AuditEntry:
        return cls(
            id=row["id"],
            at=row["at"],
            account=row["account"],
            request_id=row["request_id"],
            event=row["event"],
            actor=row["actor"],
            details=_json(row["details"]),
        )


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of the audit trail, newest first. There is no total: counting costs as much
    as reading the whole index range, so a page only knows whether an older one exists."""

    entries: tuple[AuditEntry, ...]
    page: int
    page_size: int
    has_older: bool

    @property
    def cursor(self) -> int | None:
        """The id of the oldest event shown, for `AuditLog.older`; None on the last page."""
        return self.entries[-1].id if self.has_older and self.entries else None


@dataclass(frozen=True, slots=True)
class StoredToken:
    """The token row; the plaintext is only ever returned by `TokenRepository.access_token`."""

    account: str
    ciphertext: bytes = field(repr=False)
    state: TokenState
    obtained_at: datetime
    expires_at: datetime
    obtained_via: TokenSource
    user_id: str | None
    updated_at: datetime
    invalidated_reason: str | None

    @classmethod
    def from_row(cls, row: RowMapping) -> StoredToken:
        return cls(
            account=row["account"],
            ciphertext=bytes(row["ciphertext"]),
            state=TokenState(row["state"]),
            obtained_at=row["obtained_at"],
            expires_at=row["expires_at"],
            obtained_via=TokenSource(row["obtained_via"]),
            user_id=row["user_id"],
            updated_at=row["updated_at"],
            invalidated_reason=row["invalidated_reason"],
        )


@dataclass(frozen=True, slots=True)
class OAuthState:
    nonce: str = field(repr=False)
    account: str
    slack_user_id: str
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None
    app: str = "default"

    @classmethod
    def from_row(cls, row: RowMapping) -> OAuthState:
        return cls(
            nonce=row["nonce"],
            account=row["account"],
            slack_user_id=row["slack_user_id"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            consumed_at=row["consumed_at"],
            app=row.get("app") or "default",
        )


@dataclass(frozen=True, slots=True)
class TokenRequest:
    id: str
    account: str
    requested_by: str
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    app: str = "default"

    @classmethod
    def from_row(cls, row: RowMapping) -> TokenRequest:
        return cls(
            id=row["id"],
            account=row["account"],
            requested_by=row["requested_by"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            completed_at=row["completed_at"],
            app=row.get("app") or "default",
        )


@dataclass(frozen=True, slots=True)
class Alert:
    key: str
    active: bool
    started_at: datetime | None
    cleared_at: datetime | None
    last_posted_at: datetime | None
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: RowMapping) -> Alert:
        return cls(
            key=row["key"],
            active=bool(row["active"]),
            started_at=row["started_at"],
            cleared_at=row["cleared_at"],
            last_posted_at=row["last_posted_at"],
            details=_json(row["details"]),
        )


@dataclass(frozen=True, slots=True)
class TokenDelivery:
    id: int
    account: str
    app: str
    sink: str
    outcome: str
    token_issued_at: datetime | None
    at: datetime
    attempt: int
    detail: str | None
    key_fingerprint: str | None

    @classmethod
    def from_row(cls, row: RowMapping) -> TokenDelivery:
        return cls(
            id=row["id"],
            account=row["account"],
            app=row["app"],
            sink=row["sink"],
            outcome=row["outcome"],
            token_issued_at=row["token_issued_at"],
            at=row["at"],
            attempt=row["attempt"],
            detail=row["detail"],
            key_fingerprint=row["key_fingerprint"],
        )
