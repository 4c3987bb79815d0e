"""The token sinks' settings: each mistake is one line naming its variable, and no key or
secret is echoed back."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import SettingsError, UpstoxApp, load_settings
from bot.login.apps import OWN_APP, apps_from_settings, token_app_of
from tests.support.bot_runner import TOKEN_API_KEY, TOKEN_WEBHOOK_SECRET, bot_env

KEY = TOKEN_API_KEY
SECRET = TOKEN_WEBHOOK_SECRET


def _values(**overrides: str) -> dict[str, str]:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
    )
    env.update({k.upper(): v for k, v in overrides.items()})
    return {k.lower(): v for k, v in env.items()}


def _problems(**overrides: str) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, **_values(**overrides))
    return raised.value.problems


def test_the_single_app_form_describes_the_bots_own_app_and_its_sinks(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        **_values(
            token_file=str(tmp_path / "token.json"),
            token_api_keys=f"{KEY}, second-key-0123456789abcdef",
            token_webhook_url="https://trading.example/hook",
            token_webhook_secret=SECRET,
        ),
    )
    [app] = apps_from_settings(settings)
    assert app.name == OWN_APP and app.client_id == settings.upstox_client_id
    assert app.sinks.names == ("file", "api", "webhook")
    assert len(app.sinks.api_keys) == 2
    assert app.sinks.webhook is not None and app.sinks.webhook.host == "trading.example"
    assert KEY in settings.secret_values() and SECRET in settings.secret_values()


def test_no_sinks_by_default() -> None:
    [app] = apps_from_settings(load_settings(_env_file=None, **_values()))
    assert app.sinks.names == ()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"token_webhook_url": "https://trading.example/hook"}, "set TOKEN_WEBHOOK_URL and"),
        ({"token_webhook_secret": SECRET}, "set TOKEN_WEBHOOK_URL and"),
        (
            {"token_webhook_url": "https://t.example/", "token_webhook_secret": "short"},
            "TOKEN_WEBHOOK_SECRET: must be at least 16",
        ),
        ({"token_api_keys": f"{KEY},tiny"}, "TOKEN_API_KEYS: every key must be at least 16"),
        ({"token_webhook_url": "not a url", "token_webhook_secret": SECRET}, "TOKEN_WEBHOOK_URL:"),
        ({"token_pickup_alert_after": "soon"}, "TOKEN_PICKUP_ALERT_AFTER: not a duration"),
        ({"token_file": "/no/such/folder/token.json"}, "TOKEN_FILE: the folder /no/such/folder"),
        ({"token_file": "/tmp"}, "TOKEN_FILE: is a folder"),
    ],
)
def test_each_sink_mistake_is_one_line(overrides: dict[str, str], expected: str) -> None:
    problems = _problems(**overrides)
    assert any(expected in p for p in problems), problems
    assert not [p for p in problems if "tiny" in p or SECRET in p or KEY in p]


def test_an_app_as_the_accounts_file_would_list_it() -> None:
    """The several-accounts file lists apps under an account with these keys."""
    app = UpstoxApp.model_validate(
        {
            "name": "algo-desk",
            "client_id": "trading-app-key",
            "client_secret": "trading-app-secret",
            "redirect_uri": "https://bot.example/upstox/callback",
            "token_api_keys": [KEY],
        }
    )
    token_app = token_app_of(app)
    assert token_app.name == "algo-desk" and token_app.sinks.names == ("api",)
    with pytest.raises(ValidationError) as bad:
        UpstoxApp.model_validate(
            {
                "name": "Algo Desk",
                "client_id": "k",
                "client_secret": "s",
                "redirect_uri": "https://bot.example/upstox/callback",
                "token_webhook_url": "https://t.example/hook",
                "token_api_keys": ["tiny"],
            }
        )
    text = str(bad.value)
    assert "URL path" in text and "at least 16" in text and "together" not in text
    assert "tiny" not in text
