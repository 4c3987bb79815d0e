"""`staticip-bot` serves with bounded concurrency and keep-alive, and bounded h11 heads."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot import __main__ as entry
from tests.support.bot_runner import bot_env


def test_serve_passes_the_limits_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    seen: dict[str, Any] = {}

    def run(self: uvicorn.Server, sockets: Any = None) -> None:
        seen["config"] = self.config
        for sock in sockets or []:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert entry.serve() == 0
    finally:  # serve() configures logging for the process: give pytest its handlers back
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)

    config = seen["config"]
    assert config.limit_concurrency == entry.LIMIT_CONCURRENCY == 200
    assert config.timeout_keep_alive == entry.TIMEOUT_KEEP_ALIVE == 5
    assert config.h11_max_incomplete_event_size == entry.MAX_HEADER_BYTES
