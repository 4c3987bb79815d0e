"""Slack-signed `/staticip` commands over loopback, in bursts of `concurrency`.

A burst sends `concurrency` commands at once, each on its own keep-alive connection
(bodies signed beforehand, so signing is not timed), records each acknowledgement (the
HTTP answer to the command), then waits until every command of the burst has its answer at
its own response_url before the next burst. So at concurrency 50 the server meets 50
simultaneous commands, the way a channel of traders hammering the command would, and the
bot and the baseline meet the same bursts however long their answers take. At most
`concurrency` commands are ever in flight.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.bench.wire import Connection, SlackSink
from tests.support.slack_requests import slack_headers, slash_command_body

APOLOGY = "something went wrong"
_keys = itertools.count(1)


@dataclass
class LevelResult:
    label: str
    concurrency: int
    requests: int
    ack_s: list[float] = field(default_factory=list)
    e2e_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the server's CPU time during the level

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class _Sent:
    key: str
    started: float = 0.0
    ack_s: float | None = None
    error: str | None = None


async def _send(connection: Connection, key: str, request: bytes, timeout: float) -> _Sent:
    sent = _Sent(key)
    try:
        status, sent.started, answered = await asyncio.wait_for(connection.post(request), timeout)
    except TimeoutError:
        connection.close()
        sent.error = "ack timeout"
        return sent
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        sent.error = f"ack {type(error).__name__}"
        return sent
    sent.ack_s = answered - sent.started
    if status != 200:
        sent.error = f"ack HTTP {status}"
    return sent


def _answer_text(params: dict[str, object]) -> str:
    text = str(params.get("text") or "")
    return " ".join(text.split())[:80] or "(blocks only)"


async def run_level(
    *,
    label: str,
    base_url: str,
    sink: SlackSink,
    text: str,
    concurrency: int,
    requests: int,
    answer_timeout: float,
    deadline: float,
) -> LevelResult:
    """Send `requests` commands in bursts; stop early (counting the rest as errors) at
    `deadline` (a time.monotonic() value)."""
    result = LevelResult(label, concurrency, requests)
    address = urlsplit(base_url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    connections = [Connection(host, port) for _ in range(concurrency)]
    started = time.monotonic()
    done = 0
    try:
        while done < requests:
            if time.monotonic() > deadline:
                result.errors["not sent: time budget spent"] += requests - done
                break
            size = min(concurrency, requests - done)
            keys = [f"{label}-{next(_keys)}" for _ in range(size)]
            built = []
            for key in keys:
                body = slash_command_body(text, response_url=sink.response_url(key), trigger_id=key)
                built.append(
                    Connection.request(address.netloc, "/slack/events", body, slack_headers(body))
                )
            sent = await asyncio.gather(
                *(
                    _send(c, k, r, answer_timeout)
                    for c, k, r in zip(connections, keys, built, strict=False)
                )
            )
            await sink.wait([s.key for s in sent if s.error is None], answer_timeout)
            for item in sent:
                _collect(result, sink, item)
            done += size
    finally:
        for connection in connections:
            connection.close()
    result.wall_s = time.monotonic() - started
    return result


def _collect(result: LevelResult, sink: SlackSink, sent: _Sent) -> None:
    if sent.error is not None:
        result.errors[sent.error] += 1
        return
    assert sent.ack_s is not None
    result.ack_s.append(sent.ack_s)
    answer = sink.arrivals.get(sent.key)
    if answer is None:
        result.errors["no answer at response_url in time"] += 1
        return
    text = _answer_text(answer.params)
    result.answers[text] += 1
    if APOLOGY in text.lower():
        result.errors["answered with an apology"] += 1
        return
    result.e2e_s.append(answer.at - sent.started)
