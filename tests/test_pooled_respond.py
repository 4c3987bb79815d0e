"""Command answers go to the response_url over one shared, kept-alive HTTP session."""

from __future__ import annotations

import asyncio

import pytest

from bot.slack.respond import PooledRespond, ResponseSession
from tests.support.fake_slack import FakeSlack


def test_answers_reuse_one_kept_alive_connection(fake_slack: FakeSlack) -> None:
    async def run() -> None:
        session = ResponseSession()
        try:
            for key in ("a", "b", "c"):
                respond = PooledRespond(fake_slack.response_url(key), session)
                answer = await respond(text=f"answer {key}", response_type="ephemeral")
                assert answer.status_code == 200
        finally:
            await session.aclose()

    asyncio.run(run())
    answers = fake_slack.responses()
    assert [(a.response_url_id, a.params["text"]) for a in answers] == [
        ("a", "answer a"),
        ("b", "answer b"),
        ("c", "answer c"),
    ]
    assert all(a.params["response_type"] == "ephemeral" for a in answers)
    # Bolt's own respond() opens a new session, so a new connection, for every answer.
    assert len({a.peer_port for a in answers}) == 1


def test_unsupported_answers_are_refused_before_anything_is_sent(fake_slack: FakeSlack) -> None:
    async def run() -> None:
        session = ResponseSession()
        try:
            respond = PooledRespond(fake_slack.response_url("x"), session)
            with pytest.raises(ValueError):
                await respond(text="hi", thread_ts="1.2")
            with pytest.raises(ValueError):
                await PooledRespond(None, session)(text="hi")
        finally:
            await session.aclose()

    asyncio.run(run())
    assert fake_slack.calls == []
