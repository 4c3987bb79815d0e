"""UPSTOX_TRADING_APPS: the trading systems' Upstox apps as a JSON list of `UpstoxApp`
objects. Each mistake is one line naming the variable (and the app's index and key), no
secret is echoed back, and the bot exits 2; without it the single-app form is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import SettingsError, load_settings
from bot.login.apps import apps_from_settings
from tests.login.test_delivery_config import KEY, _problems, _values
from tests.test_config import _run_bot, _valid

SECRET = "trading-app-secret-value"


def _app(**changes: Any) -> dict[str, Any]:
    app = {
        "name": "algo",
        "client_id": "algo-app-key",
        "client_secret": SECRET,
        "redirect_uri": "https://bot.example/upstox/callback",
    }
    app.update(changes)
    return {k: v for k, v in app.items() if v is not None}


def test_trading_apps_follow_the_bots_own_with_their_own_sinks(tmp_path: Path) -> None:
    apps = [
        _app(token_file=str(tmp_path / "algo.json"), token_api_keys=[KEY]),
        _app(name="hedge", client_id="hedge-app-key"),
    ]
    settings = load_settings(_env_file=None, **_values(upstox_trading_apps=json.dumps(apps)))
    own, algo, hedge = apps_from_settings(settings)
    assert (own.name, algo.name, hedge.name) == ("default", "algo", "hedge")
    assert own.client_id == settings.upstox_client_id and algo.client_id == "algo-app-key"
    assert algo.sinks.names == ("file", "api") and hedge.sinks.names == ()
    assert SECRET in settings.secret_values() and KEY in settings.secret_values()


@pytest.mark.parametrize("empty", ["", "[]", "  "])
def test_unset_or_empty_is_the_single_app_form(empty: str) -> None:
    settings = load_settings(_env_file=None, **_values(upstox_trading_apps=empty))
    assert [app.name for app in apps_from_settings(settings)] == ["default"]


@pytest.mark.parametrize(
    ("apps", "expected"),
    [
        ("not json", "UPSTOX_TRADING_APPS: must be a JSON list of apps"),
        ('{"name": "algo"}', "UPSTOX_TRADING_APPS: Input should be a valid list"),
        ([_app(name=None)], 'UPSTOX_TRADING_APPS: give every trading app a "name"'),
        ([_app(name="default")], 'UPSTOX_TRADING_APPS: give every trading app a "name"'),
        ([_app(name="phone")], 'UPSTOX_TRADING_APPS: "phone" cannot name an app'),
        ([_app(name="Algo Desk")], "UPSTOX_TRADING_APPS.0.NAME: must be lower-case letters"),
        ([_app(), _app(client_id="x")], "UPSTOX_TRADING_APPS: app names must be unique: algo"),
        (
            [_app(), _app(name="hedge")],
            "UPSTOX_TRADING_APPS: every app needs its own client_id",
        ),
        ([_app(client_id="upstox-client-id")], "UPSTOX_TRADING_APPS: a trading app has the bot's"),
        ([_app(client_secret=None)], "UPSTOX_TRADING_APPS.0.CLIENT_SECRET: is required"),
        ([_app(token_api_keys=["short"])], "UPSTOX_TRADING_APPS.0.TOKEN_API_KEYS: every key"),
        ([_app(color="blue")], "UPSTOX_TRADING_APPS.0.COLOR: Extra inputs are not permitted"),
    ],
)
def test_each_mistake_is_one_line(apps: Any, expected: str) -> None:
    raw = apps if isinstance(apps, str) else json.dumps(apps)
    values = _values(upstox_trading_apps=raw)
    if "upstox-client-id" in raw:
        values["upstox_client_id"] = "upstox-client-id"
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, **values)
    problems = raised.value.problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems
    assert SECRET not in problems[0] and "short" not in problems[0]


def test_the_single_app_problems_are_unchanged() -> None:
    assert _problems(token_webhook_url="https://trading.example/hook") == [
        "set TOKEN_WEBHOOK_URL and TOKEN_WEBHOOK_SECRET together: every webhook delivery is signed"
    ]


def test_a_bad_trading_app_stops_the_bot_with_exit_2(tmp_path: Path) -> None:
    env = {k.upper(): v for k, v in _valid().items()}
    env["UPSTOX_TRADING_APPS"] = json.dumps([_app(client_secret=None)])
    result = _run_bot(env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: UPSTOX_TRADING_APPS.0.CLIENT_SECRET: is required but not set"
    ]
