"""What an outsider who can reach the port can do: send big, unsigned, streamed bodies.

Against a real bot process (its real logging, its real uvicorn): the answer is a quick
401/413/404, nothing of the body is logged, nothing else waits, and memory does not grow
by the body's size.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.bot_runner import BotProcess
from tests.support.slack_requests import slack_headers

ATTACK = "eyJ" * 300_000  # 900 kB: under the 1 MiB Slack limit, so the signature is checked
HEALTHZ_BOUND = 0.2  # seconds; the unguarded bot stalled for several seconds per attack


@pytest.fixture
def proc(env: dict[str, str], tmp_path: Path) -> Iterator[BotProcess]:
    running = BotProcess(env, cwd=tmp_path).wait_ready(timeout=20)
    yield running
    running.stop()


class HealthPoller(threading.Thread):
    """Polls /healthz on its own connection and times every answer."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.timings: list[float] = []
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not self.done.is_set():
                started = time.perf_counter()
                response = client.get(f"{self.base_url}/healthz")
                self.timings.append(time.perf_counter() - started)
                if response.status_code != 200:
                    self.failures.append(response.text)


def test_unsigned_megabyte_bodies_stall_nothing_and_are_not_logged(
    proc: BotProcess, http: httpx.Client
) -> None:
    poller = HealthPoller(proc.base_url)
    lines_before = len(proc.lines)
    poller.start()
    statuses = []
    try:
        # Attack until the poller has been answered often while the attacks ran.
        rounds, deadline = 0, time.monotonic() + 30
        while rounds < 3 or (len(poller.timings) < 20 and time.monotonic() < deadline):
            rounds += 1
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            statuses.append(
                http.post(f"{proc.base_url}/slack/events", content=ATTACK, headers=headers)
            )
            statuses.append(
                http.post(f"{proc.base_url}/x7/{'eyJ' * 1000}", content=ATTACK, headers=headers)
            )
            # A signature header that is well formed but wrong: refused just the same.
            forged = slack_headers(ATTACK, secret="not-the-secret")
            statuses.append(
                http.post(f"{proc.base_url}/slack/events", content=ATTACK, headers=forged)
            )
    finally:
        poller.done.set()
        poller.join(timeout=10)

    assert [r.status_code for r in statuses] == [401, 413, 401] * rounds
    assert poller.failures == []
    assert len(poller.timings) >= 20
    assert max(poller.timings) < HEALTHZ_BOUND, sorted(poller.timings)[-5:]
    caused = proc.lines[lines_before:]
    assert caused, "the refusals are logged"
    assert max(len(line) for line in caused) < 1000
    assert "eyJ" * 80 not in "\n".join(caused)  # neither a body nor a whole path
    assert any(re.search(r"POST /x7/eyJ.*characters\) -> 413", line) for line in caused)


def test_a_streamed_20_mb_body_is_refused_before_it_is_read(
    proc: BotProcess, http: httpx.Client
) -> None:
    process = psutil.Process(proc.pid)
    chunk = b"a" * 65_536
    total = 20 * 1024 * 1024
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        while sent < total:
            sent += len(chunk)
            yield chunk

    rss_before = process.memory_info().rss
    for path in ("/slack/events", "/upstox/notifier", "/healthz-or-anything"):
        sent = 0
        response = http.post(f"{proc.base_url}{path}", content=body())  # chunked: no length
        assert response.status_code == 413, (path, response.text)
        assert response.json() == {"error": "request body too large"}
        assert sent < total // 2, (path, sent)  # the client was cut off long before the end
    growth = process.memory_info().rss - rss_before
    assert growth < 8 * 1024 * 1024, growth
    # A declared Content-Length above the limit is refused without reading anything.
    declared = http.post(
        f"{proc.base_url}/upstox/notifier",
        content=b"{}" + b" " * 20_000,
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    # The bot still serves.
    assert http.get(f"{proc.base_url}/healthz").status_code == 200
