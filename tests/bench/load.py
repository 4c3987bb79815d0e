"""Slack-signed `/staticip` commands over loopback, in one of two connection modes.

`keepalive` (bursts): a burst sends `concurrency` commands at once, each on its own
keep-alive connection (bodies signed beforehand, so signing is not timed), records each
acknowledgement (the HTTP answer to the command), then waits until every command of the
burst has its answer at its own response_url before the next burst. So at concurrency 50
the server meets 50 simultaneous commands, the way a channel of traders hammering the
command would, and the bot and the baseline meet the same bursts however long their answers
take. At most `concurrency` commands are ever in flight.

`new` (closed loop, one new TCP connection per command, as Slack's load balancers often
do): `concurrency` senders each open a connection, send one command with `Connection:
close`, read the acknowledgement, close, and send the next command at once. So
`concurrency` commands are always waiting for their acknowledgement, the way an external
load generator keeps them; commands acknowledged but not yet answered are not counted, so
a server that acknowledges fast meets more of them. The acknowledgement time includes the
TCP handshake. Once every command is sent, it waits for every answer at its response_url.

Both are bounded: at most `requests` commands, none sent after the deadline, each
acknowledgement and each wait for the answers limited by `answer_timeout`.
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
KEEPALIVE, NEW = "keepalive", "new"
MODES = (KEEPALIVE, NEW)
_keys = itertools.count(1)


@dataclass
class LevelResult:
    label: str
    concurrency: int
    requests: int
    mode: str = KEEPALIVE
    ack_s: list[float] = field(default_factory=list)
    e2e_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    ack_phase_s: float = 0.0  # time with commands waiting for their acknowledgement
    cpu_s: float = 0.0  # the server's CPU time during the level
    client_cpu_s: float = 0.0  # this process's (load generator and fake Slack) CPU time

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float | None:
        """Acknowledgements per second while commands were waiting for one (in bursts: the
        waits for the answers between bursts are left out)."""
        if not self.ack_s or self.ack_phase_s <= 0:
            return None
        return len(self.ack_s) / self.ack_phase_s


@dataclass
class _Sent:
    key: str
    started: float = 0.0
    ack_s: float | None = None
    error: str | None = None


async def _send(
    connection: Connection, key: str, request: bytes, timeout: float, *, new: bool = False
) -> _Sent:
    sent = _Sent(key)
    try:
        status, sent.started, answered = await asyncio.wait_for(
            connection.post(request, time_connect=new), timeout
        )
    except TimeoutError:
        connection.close()
        sent.error = "ack timeout"
        return sent
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        sent.error = f"ack {type(error).__name__}"
        return sent
    finally:
        if new:
            connection.close()
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
    mode: str = KEEPALIVE,
) -> LevelResult:
    """Send `requests` commands in `mode`; stop early (counting the rest as errors) at
    `deadline` (a time.monotonic() value)."""
    result = LevelResult(label, concurrency, requests, mode)
    started, cpu_before = time.monotonic(), time.process_time()
    if mode == KEEPALIVE:
        await _bursts(result, base_url, sink, text, answer_timeout, deadline)
    elif mode == NEW:
        await _closed_loop(result, base_url, sink, text, answer_timeout, deadline)
    else:
        raise ValueError(f"unknown connection mode {mode!r}")
    result.wall_s = time.monotonic() - started
    result.client_cpu_s = time.process_time() - cpu_before
    return result


def _build(netloc: str, sink: SlackSink, text: str, key: str, *, close: bool) -> bytes:
    body = slash_command_body(text, response_url=sink.response_url(key), trigger_id=key)
    return Connection.request(netloc, "/slack/events", body, slack_headers(body), close=close)


def _address(base_url: str) -> tuple[str, str, int]:
    address = urlsplit(base_url)
    return address.netloc, address.hostname or "127.0.0.1", address.port or 80


async def _bursts(
    result: LevelResult,
    base_url: str,
    sink: SlackSink,
    text: str,
    answer_timeout: float,
    deadline: float,
) -> None:
    netloc, host, port = _address(base_url)
    concurrency, requests = result.concurrency, result.requests
    connections = [Connection(host, port) for _ in range(concurrency)]
    done = 0
    try:
        while done < requests:
            if time.monotonic() > deadline:
                result.errors["not sent: time budget spent"] += requests - done
                break
            size = min(concurrency, requests - done)
            keys = [f"{result.label}-{next(_keys)}" for _ in range(size)]
            built = [_build(netloc, sink, text, key, close=False) for key in keys]
            burst_started = time.monotonic()
            sent = await asyncio.gather(
                *(
                    _send(c, k, r, answer_timeout)
                    for c, k, r in zip(connections, keys, built, strict=False)
                )
            )
            result.ack_phase_s += time.monotonic() - burst_started
            await sink.wait([s.key for s in sent if s.error is None], answer_timeout)
            for item in sent:
                _collect(result, sink, item)
            done += size
    finally:
        for connection in connections:
            connection.close()


async def _closed_loop(
    result: LevelResult,
    base_url: str,
    sink: SlackSink,
    text: str,
    answer_timeout: float,
    deadline: float,
) -> None:
    netloc, host, port = _address(base_url)
    keys = [f"{result.label}-{next(_keys)}" for _ in range(result.requests)]
    built = [_build(netloc, sink, text, key, close=True) for key in keys]
    pending = iter(zip(keys, built, strict=True))  # shared by the senders
    sent: list[_Sent] = []

    async def sender() -> None:
        for key, request in pending:
            if time.monotonic() > deadline:
                result.errors["not sent: time budget spent"] += 1
                continue
            sent.append(await _send(Connection(host, port), key, request, answer_timeout, new=True))

    loop_started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(result.concurrency)))
    result.ack_phase_s = time.monotonic() - loop_started
    await sink.wait([s.key for s in sent if s.error is None], answer_timeout)
    for item in sent:
        _collect(result, sink, item)


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
