"""manifest.socket-mode.yml is manifest.yml (which is checked against Slack's schema) for
Socket Mode: the same command, events and interactivity, no request URLs, Socket Mode on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.doctor import GROUP_SCOPE, REQUIRED_SCOPES

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return loaded


def test_socket_mode_manifest_is_the_http_one_without_urls() -> None:
    http, socket = _load("manifest.yml"), _load("manifest.socket-mode.yml")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "url" not in str(socket["features"]) and "request_url" not in str(socket["settings"])

    (http_command,) = http["features"]["slash_commands"]
    http_command = {k: v for k, v in http_command.items() if k != "url"}
    assert socket["features"]["slash_commands"] == [http_command]
    assert socket["features"]["app_home"] == http["features"]["app_home"]
    assert socket["features"]["bot_user"] == http["features"]["bot_user"]
    events = socket["settings"]["event_subscriptions"]["bot_events"]
    assert events == http["settings"]["event_subscriptions"]["bot_events"]
    assert socket["settings"]["interactivity"] == {"is_enabled": True}
    assert socket["_metadata"] == http["_metadata"]


def test_socket_mode_manifest_grants_what_the_doctor_checks() -> None:
    scopes = set(_load("manifest.socket-mode.yml")["oauth_config"]["scopes"]["bot"])
    assert scopes >= REQUIRED_SCOPES | {GROUP_SCOPE, "channels:read", "groups:read"}
