"""manifest.yml is valid against Slack's schema and matches what the app really serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from jsonschema import Draft7Validator
from slack_sdk.web.async_base_client import AsyncBaseClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.web import create_app
from tests.support.bot_runner import bot_env, settings_from_env, subcommands

ROOT = Path(__file__).resolve().parent.parent
# Slack's manifest schema (MIT, Slack Technologies), kept in the repository: see its README.
SCHEMA = ROOT / "tests" / "fixtures" / "slack-manifest" / "manifest.schema.1.0.0.json"


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return loaded


def test_manifest_passes_slacks_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}"
        for e in Draft7Validator(schema).iter_errors(_manifest())
    ]
    assert not errors, errors


def test_manifest_subcommands_exist_in_the_app() -> None:
    (command,) = _manifest()["features"]["slash_commands"]
    assert command["command"] == "/staticip"
    alternatives = command["usage_hint"].strip("[]").split("|")
    hinted = {alternative.split()[0] for alternative in alternatives}
    assert hinted == subcommands()


def test_manifest_paths_are_routes_of_the_app() -> None:
    manifest = _manifest()
    urls = [
        manifest["features"]["slash_commands"][0]["url"],
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
    ]
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///unused.db",
    )
    app = create_app(settings_from_env(env))
    routes = {(route.path, method) for route in app.routes for method in route.methods or ()}  # type: ignore[attr-defined]
    for url in urls:
        assert (urlparse(url).path, "POST") in routes


# The scope each Web API method the bot calls needs (None: no scope). A method missing here
# fails the test below: add it, with its scope from https://api.slack.com/methods.
METHOD_SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_getPermalink": None,
    "usergroups_users_list": "usergroups:read",
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "auth_test": None,
    # `staticip-bot check`: is the bot in the approvals channel (public or private)?
    "conversations_info": "channels:read",
}
# conversations.info on a private channel needs groups:read as well.
EXTRA_SCOPES = {"conversations_info": {"groups:read"}}


def _web_api_methods_called() -> set[str]:
    methods = set(dir(AsyncWebClient)) - set(dir(AsyncBaseClient))
    called = set()
    for path in (ROOT / "bot").rglob("*.py"):
        source = path.read_text()
        assert ".api_call(" not in source, f"{path}: call Web API methods by name"
        called |= {m for m in re.findall(r"\.(\w+)\(", source) if m in methods}
    return called


def test_manifest_requests_exactly_the_scopes_the_code_needs() -> None:
    called = _web_api_methods_called()
    assert called, "found no Web API calls: has the code moved?"
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"
    needed = {METHOD_SCOPES[m] for m in called} - {None}
    needed |= {scope for m in called for scope in EXTRA_SCOPES.get(m, set())}
    # The slash command needs `commands`. No users.* call, so no users:read; and the bot
    # posts only where it was invited, so no chat:write.public (see README).
    assert set(_manifest()["oauth_config"]["scopes"]["bot"]) == needed | {"commands"}


def test_manifest_events_cover_the_features() -> None:
    manifest = _manifest()
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_socket_mode_keeps_the_upstox_and_health_routes_but_not_slack_events() -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///unused.db",
        slack_app_token="xapp-1-A0FAKE-1-abcdef",
    )
    del env["SLACK_SIGNING_SECRET"]  # not needed when Slack talks over the WebSocket
    settings = settings_from_env(env)
    assert settings.socket_mode
    paths = {route.path for route in create_app(settings).routes}  # type: ignore[attr-defined]
    assert "/slack/events" not in paths
    assert {"/healthz", "/readyz", "/upstox/callback", "/upstox/notifier"} <= paths
