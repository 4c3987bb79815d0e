"""The token sinks in a real `python -m bot` at DEBUG: after an IP change and a login the
file, GET /token and the signed webhook all carry the new token, and nothing of it — nor a
key, the webhook secret or a credential in the webhook URL — is in the process output or
in Slack."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from bot.upstox.emulator import EmulatorServer
from tests.support.bot_runner import (
    TOKEN_API_KEY,
    TOKEN_WEBHOOK_SECRET,
    BotProcess,
    wait_until,
)
from tests.support.fake_slack import FakeSlack
from tests.support.replicas import click, log_in_via_callback, request_change
from tests.support.secret_watch import STATIC_SECRETS, leaks, slack_texts
from tests.support.webhook_server import WebhookServer

URL_CREDENTIAL = "hook-credential-in-the-query-0123"


def test_every_sink_gets_the_token_and_nothing_leaks_from_the_process(
    env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    http: httpx.Client,
    upstox_token: str,
) -> None:
    webhook = WebhookServer(TOKEN_WEBHOOK_SECRET)
    token_file = tmp_path / "trading" / "token.json"
    token_file.parent.mkdir()
    proc = BotProcess(
        {
            **env,
            "LOG_LEVEL": "DEBUG",
            "TOKEN_FILE": str(token_file),
            "TOKEN_API_KEYS": TOKEN_API_KEY,
            "TOKEN_WEBHOOK_URL": f"{webhook.url}?auth={URL_CREDENTIAL}",
            "TOKEN_WEBHOOK_SECRET": TOKEN_WEBHOOK_SECRET,
        },
        cwd=tmp_path,
    ).wait_ready(timeout=20)
    try:
        base = proc.base_url
        request_id = request_change(http, base, fake_slack)
        click(http, base, fake_slack, request_id, user_id="UAPPROVER1")
        wait_until(
            lambda: (
                http.get(
                    f"{base}/token", headers={"Authorization": f"Bearer {TOKEN_API_KEY}"}
                ).status_code
                == 503
            ),
            timeout=15,
        )
        assert log_in_via_callback(http, base, fake_slack).status_code == 200
        webhook.wait_for(lambda got: any(r.status == 200 for r in got), timeout=15)
        fetched = http.get(f"{base}/token", headers={"Authorization": f"Bearer {TOKEN_API_KEY}"})
        refused = http.get(f"{base}/token", headers={"Authorization": "Bearer nope"})
    finally:
        proc.terminate()
        webhook.stop()

    new = fetched.json()["access_token"]
    assert new != upstox_token and emulator.state.tokens[new].alive(emulator.state.now())
    assert json.loads(token_file.read_text())["access_token"] == new
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert [r.token for r in webhook.snapshot() if r.status == 200] == [new]
    assert refused.status_code == 401 and refused.content == b""

    tokens = {f"token {t[:4]}…": t for t in emulator.state.tokens}
    secrets = {**STATIC_SECRETS, **tokens, "webhook URL credential": URL_CREDENTIAL}
    texts = proc.output().splitlines() + slack_texts(fake_slack)
    assert any("POST" in line and "hooks/upstox-token" in line for line in texts)
    assert leaks(texts, secrets) == []
