"""Start-up asks Slack who the bot is, once: a refused token stops the server with one line
and exit 2; an unreachable Slack does not stop it (the Upstox side keeps working)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.bot_runner import BotProcess, wait_until
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import post_signed, slash_command_body


@pytest.mark.parametrize("error", ["invalid_auth", "not_authed"])
def test_a_refused_token_exits_2_with_one_line_and_no_traceback(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path, error: str
) -> None:
    fake_slack.token_error = error
    proc = BotProcess({**env, "SLACK_BOT_TOKEN": "xoxb-wrong"}, cwd=tmp_path)
    assert proc.wait_exit(timeout=30) == 2
    lines = [line for line in proc.lines if line.strip()]
    assert lines == [
        f"SLACK_BOT_TOKEN: Slack refused the token ({error}): copy the Bot User OAuth Token "
        "(xoxb-…) from the app's OAuth & Permissions page"
    ], proc.output()
    assert [c.method for c in fake_slack.calls] == ["auth.test"]
    assert "Traceback" not in proc.output()
    assert "listening on" not in proc.output()


def test_an_unreachable_slack_starts_anyway_and_retries_in_the_background(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path, http: httpx.Client
) -> None:
    # Slack answers 503 for a while (more than the client's own retries at start-up).
    fake_slack.fail_next("auth.test", error="service_unavailable", status=503, times=7)
    proc = BotProcess(env, cwd=tmp_path)
    try:
        proc.wait_ready(timeout=30)
        proc.wait_for_line(re.compile(r"Slack is unreachable"), timeout=5)
        # The Upstox side is up: the callback route answers (a bad state, but it answers).
        assert http.get(f"{proc.base_url}/upstox/callback").status_code < 500
        proc.wait_for_line(re.compile(r"Slack reachable again: token verified"), timeout=30)
        calls_after_retry = len(fake_slack.calls_to("auth.test"))
        assert calls_after_retry == 8
        # Then a command works, and Bolt does not ask auth.test again.
        body = slash_command_body("help", response_url=fake_slack.response_url())
        assert post_signed(http, proc.base_url, body).status_code == 200
        assert len(fake_slack.calls_to("auth.test")) == calls_after_retry
    finally:
        proc.stop()
    assert "Traceback" not in proc.output()


def test_a_good_token_is_checked_once_and_not_again_per_request(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path, http: httpx.Client
) -> None:
    proc = BotProcess(env, cwd=tmp_path)
    try:
        proc.wait_ready(timeout=30)
        for key in ("1", "2"):
            body = slash_command_body("status", response_url=fake_slack.response_url(key))
            assert post_signed(http, proc.base_url, body).status_code == 200
            fake_slack.wait_for_response(key)
        wait_until(lambda: len(fake_slack.responses()) == 2)
        assert len(fake_slack.calls_to("auth.test")) == 1
    finally:
        proc.stop()
