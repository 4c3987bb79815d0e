"""No secret ever leaves: a real bot process at DEBUG, through every flow that touches one.

(Every other test is watched too: tests/conftest.py checks the log lines and Slack calls
of each test for the configured secrets and every token the emulator issued.)
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.upstox.emulator import EmulatorServer, Fault
from tests.support.bot_runner import BotProcess, wait_until
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import (
    click,
    log_in_via_callback,
    request_change,
)
from tests.support.secret_watch import STATIC_SECRETS, leaks, slack_texts

pytestmark = pytest.mark.stress


def channel_posts(fake_slack: FakeSlack, needle: str) -> int:
    return len([c for c in fake_slack.calls_to("chat.postMessage") if needle in c.text_blob()])


def test_no_secret_in_the_process_output_or_anything_sent_to_slack(
    env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
) -> None:
    # CHECK_INTERVAL: the watcher, not the reads, posts the "logged out" alert after a 401.
    proc = BotProcess(
        {**env, "LOG_LEVEL": "DEBUG", "CHECK_INTERVAL": "1s"}, cwd=tmp_path
    ).wait_ready(timeout=20)
    try:
        base = proc.base_url
        http.post(
            f"{emulator.base_url}/_emulator/config",
            json={"notifier_url": f"{base}/upstox/notifier"},
        ).raise_for_status()

        # A change requested, approved and applied: every token dies, an alert goes out.
        request_id = request_change(http, base, fake_slack)
        click(http, base, fake_slack, request_id, user_id="UAPPROVER1")
        wait_until(lambda: channel_posts(fake_slack, "Upstox is logged out") == 1, timeout=15)
        # Back in through the OAuth callback...
        assert log_in_via_callback(http, base, fake_slack).status_code == 200
        # ...and through the phone approval (the token arrives on the notifier webhook).
        slash(http, base, fake_slack, "login phone")
        http.post(f"{emulator.base_url}/_emulator/token-requests/approve").raise_for_status()
        wait_until(lambda: channel_posts(fake_slack, "Logged in to Upstox as") == 2, timeout=15)
        # Failures: Upstox down (5xx), then every session revoked (401).
        emulator.state.add_fault(Fault(route="GET /v2/user/ip", kind="status", status=503, count=3))
        assert "Upstox" in str(slash(http, base, fake_slack, "show").params.get("text"))
        for record in emulator.state.tokens.values():
            record.revoked_at = emulator.state.now()
        slash(http, base, fake_slack, "show")
        wait_until(lambda: channel_posts(fake_slack, "Upstox is logged out") == 2, timeout=15)
    finally:
        proc.terminate()

    tokens = {f"token {t[:4]}…": t for t in emulator.state.tokens}
    sources = sorted(r.source for r in emulator.state.tokens.values())
    assert sources == ["admin", "oauth", "token_request"]  # every way a token arrives
    texts = proc.output().splitlines() + slack_texts(fake_slack)
    assert len(texts) > 50
    assert leaks(texts, {**STATIC_SECRETS, **tokens}) == []
