"""Acknowledgements first: a command's work waits while other Slack requests wait for theirs."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import httpx

from bot.slack.ack_first import AckFirst
from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import InProcessBot, wait_until
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import post_signed, slash_command_body

GET_IPS = "GET /v2/user/ip"


async def test_the_work_goes_once_every_waiting_request_is_acknowledged() -> None:
    acks = AckFirst(max_delay=30)
    order: list[str] = []

    async def work() -> None:
        await acks.turn()
        order.append("work")

    with ExitStack() as stack:
        stack.enter_context(acks.waiting())
        stack.enter_context(acks.waiting())
        assert acks.pending == 2
        worker = asyncio.ensure_future(work())
        await asyncio.sleep(0)
        order.append("first ack")
    # Both acknowledged (the stack closed): only now may the work go.
    await asyncio.wait_for(worker, 5)
    assert order == ["first ack", "work"]
    assert acks.pending == 0


async def test_with_nothing_waiting_the_work_goes_at_once() -> None:
    acks = AckFirst(max_delay=30)
    await asyncio.wait_for(acks.turn(), 1)  # would take 30 s if it waited


async def test_the_door_lets_one_work_item_through_per_turn_of_the_loop() -> None:
    acks = AckFirst()
    order: list[str] = []

    async def work(name: str) -> None:
        await acks.door()
        order.append(name)

    async def socket_reader() -> None:  # stands for the loop's I/O between two items
        while len([name for name in order if name != "io"]) < 3:
            order.append("io")
            await asyncio.sleep(0)

    await asyncio.gather(work("a"), work("b"), work("c"), socket_reader())
    items = [name for name in order if name != "io"]
    assert items == ["a", "b", "c"]
    # No two work items run back to back: the loop gets round to other callbacks between.
    assert "a,b" not in ",".join(order) and "b,c" not in ",".join(order)


async def test_a_steady_stream_of_requests_delays_the_work_but_never_starves_it() -> None:
    acks = AckFirst(max_delay=0.01)
    with acks.waiting():
        await asyncio.wait_for(acks.turn(), 5)
        assert acks.pending == 1  # it went although a request still waits


def test_a_command_is_acknowledged_at_once_and_its_answer_waits_for_the_other_acks(
    bot: InProcessBot, http: httpx.Client, fake_slack: FakeSlack, emulator: EmulatorServer
) -> None:
    acks = bot.services.acks
    acks.max_delay = 30.0
    held = acks.waiting()  # another Slack request, still waiting for its acknowledgement

    async def hold() -> None:
        held.__enter__()

    async def release() -> None:
        held.__exit__(None, None, None)

    bot.run(hold())
    try:
        body = slash_command_body("show", response_url=fake_slack.response_url("held"))
        response = post_signed(http, bot.base_url, body)
        assert response.status_code == 200  # the acknowledgement did not wait
        assert acks.pending == 1
        # The work has started (the Upstox read is not late by the other request) ...
        wait_until(lambda: len(emulator.state.calls_to(GET_IPS)) == 1)
        # ... but its answer is not posted while a request waits for its acknowledgement.
        assert fake_slack.responses("held") == []
    finally:
        bot.run(release())
    answer = fake_slack.wait_for_response("held")
    assert "Static IPs registered with Upstox" in answer.text_blob()
    assert len(emulator.state.calls_to(GET_IPS)) == 1
