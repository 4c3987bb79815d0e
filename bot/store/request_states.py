"""The change-request state machine, as data.

pending → approved → applying → applied | failed
pending → scheduled → approved (at its time) | cancelled | pending (missed while down)
pending → rejected | expired | cancelled
approved → failed   (drift detected just before applying)
"""

from __future__ import annotations

from enum import StrEnum


class RequestState(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


OPEN_STATES: frozenset[RequestState] = frozenset(
    {RequestState.PENDING, RequestState.SCHEDULED, RequestState.APPROVED, RequestState.APPLYING}
)
TERMINAL_STATES: frozenset[RequestState] = frozenset(RequestState) - OPEN_STATES

TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.PENDING: frozenset(
        {
            RequestState.APPROVED,
            RequestState.SCHEDULED,
            RequestState.REJECTED,
            RequestState.EXPIRED,
            RequestState.CANCELLED,
        }
    ),
    RequestState.SCHEDULED: frozenset(
        {RequestState.APPROVED, RequestState.CANCELLED, RequestState.PENDING}
    ),
    RequestState.APPROVED: frozenset({RequestState.APPLYING, RequestState.FAILED}),
    RequestState.APPLYING: frozenset({RequestState.APPLIED, RequestState.FAILED}),
    **{state: frozenset() for state in TERMINAL_STATES},
}


# Not a step of the flow but a correction: a request recorded as failed (a read-back after
# the settling period still showed the old IPs) whose own PUT then got a definite 2xx from
# Upstox was applied after all. Only that answer may make it (`correction=True`).
CORRECTIONS: frozenset[tuple[RequestState, RequestState]] = frozenset(
    {(RequestState.FAILED, RequestState.APPLIED)}
)


class IllegalTransition(ValueError):
    """A programming error: the code asked for a transition the state machine forbids."""


def is_open(state: RequestState) -> bool:
    """Open requests block a new request for the same account."""
    return state in OPEN_STATES


def can_transition(from_state: RequestState, to_state: RequestState) -> bool:
    return to_state in TRANSITIONS[from_state]


def sources_for(to_state: RequestState) -> frozenset[RequestState]:
    """Every state from which `to_state` may be reached (the `from_states` of an update)."""
    return frozenset(src for src, targets in TRANSITIONS.items() if to_state in targets)


def check_transition(
    from_states: frozenset[RequestState], to_state: RequestState, *, correction: bool = False
) -> None:
    bad = sorted(
        s.value
        for s in from_states
        if not can_transition(s, to_state) and not (correction and (s, to_state) in CORRECTIONS)
    )
    if not from_states or bad:
        raise IllegalTransition(f"cannot move {bad or 'nothing'} to {to_state.value}")
