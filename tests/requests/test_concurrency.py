"""Twenty Approve clicks from two approvers at once: one decision, one PUT, 19 told who won.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bot.store.request_states import RequestState
from bot.upstox.emulator import EmulatorServer
from tests.requests.helpers import click, events, puts, request_change, wait_state
from tests.support.bot_runner import InProcessBot, settings_from_env
from tests.support.clock import MutableClock
from tests.support.fake_slack import FakeSlack

CLICKS = 20


@pytest.fixture
def db_bot(
    env: dict[str, str], any_database_url: str, clock: MutableClock
) -> Iterator[InProcessBot]:
    bot = InProcessBot(
        settings_from_env({**env, "DATABASE_URL": any_database_url}), clock=clock
    ).start()
    yield bot
    bot.stop()


def test_concurrent_approvals_apply_exactly_once(
    db_bot: InProcessBot, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    bot = db_bot
    with httpx.Client(timeout=10) as http:
        request = request_change(http, bot, fake_slack)
    start = threading.Barrier(CLICKS)

    def fire(n: int) -> str:
        approver = "UAPPROVER1" if n % 2 else "UAPPROVER2"
        with httpx.Client(timeout=10) as client:
            start.wait()
            return click(client, bot.base_url, fake_slack, request.id, user_id=approver)

    with ThreadPoolExecutor(CLICKS) as pool:
        keys = list(pool.map(fire, range(CLICKS)))

    applied = wait_state(bot, request.id, RequestState.APPLIED)
    winner = applied.decided_by
    assert winner in ("UAPPROVER1", "UAPPROVER2")
    assert puts(emulator) == 1
    assert events(bot, request.id) == ["requested", "approved", "applying", "applied"]

    # Every loser is told, privately, who approved first.
    def answered() -> list[object]:
        return [r for r in fake_slack.responses() if r.response_url_id in keys]

    fake_slack.wait_for(lambda _: len(answered()) >= CLICKS - 1)
    told = [r for r in fake_slack.responses() if r.response_url_id in keys]
    assert len(told) == CLICKS - 1
    assert all(f"already approved by <@{winner}>" in r.params["text"] for r in told)
    assert all(r.params["response_type"] == "ephemeral" for r in told)
