"""The real server process: start-up, readiness, signed Slack requests, clean shutdown."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bot_runner import BotProcess
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import post_signed, slack_headers, slash_command_body


@pytest.fixture
def process(env: dict[str, str], tmp_path: Path) -> Iterator[BotProcess]:
    # How fast it gets ready (target: under 2 s) is measured by the benchmark, tests/bench.
    proc = BotProcess(env, cwd=tmp_path)
    proc.wait_ready(timeout=15)
    yield proc
    proc.kill()


def test_becomes_ready_and_healthy(process: BotProcess, http: httpx.Client) -> None:
    assert http.get(f"{process.base_url}/healthz").json() == {"status": "ok"}
    assert http.get(f"{process.base_url}/readyz").status_code == 200


def test_signed_help_answers_with_usage(
    process: BotProcess, http: httpx.Client, fake_slack: FakeSlack
) -> None:
    body = slash_command_body("help", response_url=fake_slack.response_url())
    response = post_signed(http, process.base_url, body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    for sub in ("show", "set", "cancel", "history", "status", "login", "help"):
        assert f"/staticip {sub}" in answer["text"]


@pytest.mark.parametrize(
    "tamper",
    ["unsigned", "wrong secret", "six minutes old", "body changed after signing"],
)
def test_badly_signed_requests_get_401_and_reach_no_listener(
    process: BotProcess, http: httpx.Client, fake_slack: FakeSlack, tamper: str
) -> None:
    body = slash_command_body("help", response_url=fake_slack.response_url())
    url = f"{process.base_url}/slack/events"
    if tamper == "unsigned":
        response = http.post(
            url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    elif tamper == "wrong secret":
        response = post_signed(http, process.base_url, body, secret="not-the-secret")
    elif tamper == "six minutes old":
        response = post_signed(http, process.base_url, body, timestamp=int(time.time()) - 360)
    else:
        headers = slack_headers(body)
        response = http.post(url, content=body.replace("help", "show"), headers=headers)
    assert response.status_code == 401
    assert "staticip" not in response.text
    assert [c.method for c in fake_slack.calls] == ["auth.test"]  # start-up's, nothing since


def test_sigterm_shuts_down_cleanly(process: BotProcess) -> None:
    # uvicorn finishes the lifespan shutdown, then re-raises the signal (exit 143 in a shell).
    assert process.terminate() in (0, -signal.SIGTERM)
    assert re.search(r"\bstopped\b", process.output())
    assert "Traceback" not in process.output()
