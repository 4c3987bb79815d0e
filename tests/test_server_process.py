"""The real server process: start-up, readiness, signed Slack requests, clean shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bot_runner import REPO_ROOT, BotProcess, bot_env
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


# Modules a configuration may or may not need; `serve` must load only those it uses.
OPTIONAL_MODULES = {
    "postgresql": ("psycopg", "sqlalchemy.dialects.postgresql"),
    "metrics": ("prometheus_client",),
    "socket mode": ("slack_sdk.socket_mode", "slack_bolt.adapter.socket_mode"),
    "emulator": ("bot.upstox.emulator",),
    "httpx cli": ("httpx._main",),
    # FastAPI imports it to check a route's pydantic fields: the routes declare none.
    "pydantic v1": ("pydantic.v1",),
}

# `python -m bot` up to the moment uvicorn would serve (the app built, Slack's auth.test
# tried), then the optional modules it has loaded and the garbage collector's state, as JSON.
_SERVE_AND_LIST_MODULES = """
import gc, json, sys
import uvicorn

def run(self, sockets=None):
    for sock in sockets or []:
        sock.close()
    optional = json.loads(sys.argv[1])
    print(json.dumps({
        "optional": sorted(
            name for name, prefixes in optional.items()
            if any(
                (m == p or m.startswith(p + ".")) and module is not None
                for p in prefixes for m, module in list(sys.modules.items())
            )
        ),
        "gc_enabled": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
    }))

uvicorn.Server.run = run
from bot.__main__ import main
sys.exit(main([]))
"""


def serve_until_uvicorn(tmp_path: Path, **overrides: str) -> dict[str, Any]:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",  # unreachable: the bot starts anyway
        upstox_base_url="http://127.0.0.1:9",
        database_url=overrides.pop("database_url", f"sqlite:///{tmp_path / 'bot.db'}"),
        **overrides,
    )
    result = subprocess.run(
        [sys.executable, "-c", _SERVE_AND_LIST_MODULES, json.dumps(OPTIONAL_MODULES)],
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO_ROOT),
            **env,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    state: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return state


def loaded_optional_modules(tmp_path: Path, **overrides: str) -> list[str]:
    loaded: list[str] = serve_until_uvicorn(tmp_path, **overrides)["optional"]
    return loaded


def test_serve_freezes_what_start_up_built_and_collects_garbage_again(tmp_path: Path) -> None:
    # The collector is off while start-up builds what lives as long as the process, then
    # that is frozen out of its sight (no full collection walks it mid-burst), and it is on
    # again for everything the requests make.
    state = serve_until_uvicorn(tmp_path)
    assert state["gc_enabled"] is True
    assert state["frozen"] > 100_000


def test_serve_loads_no_module_the_configuration_does_not_use(tmp_path: Path) -> None:
    # SQLite, HTTP mode, no metrics: no PostgreSQL driver or dialect, no prometheus_client,
    # no Socket Mode client, no emulator, no httpx command-line client (rich), no pydantic v1.
    assert loaded_optional_modules(tmp_path) == []


def test_serve_loads_what_the_configuration_uses(tmp_path: Path) -> None:
    # The same check, for a configuration that does use them (engines connect lazily, so
    # PostgreSQL need not be running).
    loaded = loaded_optional_modules(
        tmp_path,
        database_url="postgresql://nobody@127.0.0.1:9/none",
        metrics_enabled="true",
    )
    assert loaded == ["metrics", "postgresql"]
