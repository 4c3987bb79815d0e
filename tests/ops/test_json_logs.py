"""LOG_FORMAT=json: every line the real process writes during a whole change (request,
approval, PUT, logged-out alert) and the login after it is one JSON object, with the fields
log shippers expect and the secrets still redacted."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from bot.log import _JsonFormatter, redactor
from bot.upstox.emulator import EmulatorServer
from tests.login.helpers import confirmations, dead_alerts, login_url, upstox_redirect
from tests.requests.helpers import NEW_PRIMARY, click
from tests.support.bot_runner import BotProcess, wait_until
from tests.support.conversation import slash
from tests.support.fake_slack import FakeSlack
from tests.support.secret_watch import STATIC_SECRETS, leaks

FIELDS = {"time", "level", "logger", "request_id", "message"}


def _at(base_url: str, url: str) -> str:
    """`url` sent to the running process (its port is chosen at start-up)."""
    base = urlsplit(base_url)
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def test_every_line_of_a_change_and_a_login_is_json(
    env: dict[str, str],
    tmp_path: Path,
    http: httpx.Client,
    fake_slack: FakeSlack,
    emulator: EmulatorServer,
    upstox_token: str,
) -> None:
    proc = BotProcess({**env, "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"}, cwd=tmp_path)
    try:
        proc.wait_ready(timeout=30)
        answer = slash(http, proc.base_url, fake_slack, f"set {NEW_PRIMARY} moving hosts")
        assert "is posted for approval" in answer.params["text"]
        request_id = answer.params["text"].split("`")[1]
        click(http, proc.base_url, fake_slack, request_id, user_id="UAPPROVER1")
        [alert] = fake_slack.wait_for(lambda _: dead_alerts(fake_slack), timeout=15)
        callback = upstox_redirect(http, login_url(alert))
        page = http.get(_at(proc.base_url, callback))
        assert page.status_code == 200, page.text
        fake_slack.wait_for(lambda _: confirmations(fake_slack), timeout=15)
        wait_until(lambda: "GET /upstox/callback" in proc.output(), timeout=10)
    finally:
        proc.stop()

    lines = [line for line in proc.lines if line.strip()]
    assert len(lines) > 10
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line, or the test fails here
        assert isinstance(entry, dict) and entry.keys() >= FIELDS, line
        entries.append(entry)
    messages = [e["message"] for e in entries]
    assert any(m.startswith("listening on http://") for m in messages)
    assert any("POST /slack/events -> 200" in m for m in messages)
    assert any("GET /upstox/callback -> 200" in m for m in messages)
    # Requests are tagged with their id; start-up lines are not.
    assert any(e["request_id"] != "-" for e in entries)
    assert {e["level"] for e in entries} <= {"DEBUG", "INFO", "WARNING", "ERROR"}
    secrets = dict(STATIC_SECRETS)
    secrets.update({f"token {t[:4]}…": t for t in list(emulator.state.tokens)})
    assert not leaks(lines, secrets)


def test_an_exception_is_one_field_of_the_same_object_and_stays_redacted() -> None:
    secret = "s3cr3t-value-for-the-json-test"
    redactor.add([secret])
    try:
        raise RuntimeError(f"boom with {secret} and xoxb-1234-abcd")
    except RuntimeError:
        record = logging.LogRecord(
            "bot.test", logging.ERROR, __file__, 1, "failed: %s", (secret,), sys.exc_info()
        )
    line = _JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed: [redacted]"
    assert "RuntimeError: boom with [redacted] and [redacted]" in entry["exception"]
    assert secret not in line and "xoxb-1234" not in line
