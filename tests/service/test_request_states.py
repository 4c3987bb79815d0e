from __future__ import annotations

import pytest

from bot.store.request_states import (
    OPEN_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    RequestState,
    can_transition,
    check_transition,
    is_open,
    sources_for,
)

S = RequestState


def test_the_documented_edges_and_only_those() -> None:
    edges = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert edges == {
        (S.PENDING, S.APPROVED),
        (S.PENDING, S.REJECTED),
        (S.PENDING, S.EXPIRED),
        (S.PENDING, S.CANCELLED),
        (S.PENDING, S.SCHEDULED),
        (S.SCHEDULED, S.APPROVED),
        (S.SCHEDULED, S.CANCELLED),
        (S.SCHEDULED, S.PENDING),  # missed while the bot was down, and unsafe now
        (S.APPROVED, S.APPLYING),
        (S.APPROVED, S.FAILED),
        (S.APPLYING, S.APPLIED),
        (S.APPLYING, S.FAILED),
    }


def test_open_and_terminal_partition_the_states() -> None:
    assert set(S) == OPEN_STATES | TERMINAL_STATES
    assert not OPEN_STATES & TERMINAL_STATES
    open_states = {S.PENDING, S.SCHEDULED, S.APPROVED, S.APPLYING}
    assert all(is_open(s) == (s in open_states) for s in S)
    assert all(not TRANSITIONS[s] for s in TERMINAL_STATES)


def test_closed_states_never_reopen() -> None:
    assert not any(can_transition(a, b) for a in TERMINAL_STATES for b in OPEN_STATES)


def test_sources_for() -> None:
    assert sources_for(S.FAILED) == {S.APPROVED, S.APPLYING}
    assert sources_for(S.PENDING) == {S.SCHEDULED}


def test_check_transition() -> None:
    check_transition(frozenset({S.APPROVED, S.APPLYING}), S.FAILED)
    with pytest.raises(IllegalTransition):
        check_transition(frozenset({S.PENDING}), S.APPLIED)
    with pytest.raises(IllegalTransition):
        check_transition(frozenset(), S.APPROVED)
