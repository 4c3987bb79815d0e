"""Settings: every problem is one readable line; start-up with bad settings exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import SettingsError, load_settings, parse_duration
from tests.support.bot_runner import bot_env, settings_from_env


def _valid(**overrides: str) -> dict[str, str]:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
    )
    env.update(overrides)
    return {k.lower(): v for k, v in env.items()}


def _problems(**values: str) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, **values)
    return raised.value.problems


def test_valid_settings_parse_lists_and_durations() -> None:
    settings = load_settings(_env_file=None, **_valid(approval_ttl="1h30m"))
    assert settings.slack_approvers == ["UAPPROVER1", "UAPPROVER2", "SAPPROVERS"]
    assert settings.approval_ttl == timedelta(hours=1, minutes=30)
    assert not settings.socket_mode
    assert settings.slack_api_base.endswith("/api/")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("slack_bot_token", "abc", 'SLACK_BOT_TOKEN: must be a bot token starting with "xoxb-"'),
        ("slack_app_token", "xoxb-1", "SLACK_APP_TOKEN: must be an app-level token"),
        ("slack_approval_channel", "#trading", "SLACK_APPROVAL_CHANNEL: must be a channel ID"),
        ("slack_approvers", "U123ABC,bob", "SLACK_APPROVERS: not a user ID"),
        ("slack_approvers", "", "SLACK_APPROVERS: list at least one approver"),
        ("slack_requesters", "alice", "SLACK_REQUESTERS: not a user ID"),
        ("upstox_redirect_uri", "not a url", "UPSTOX_REDIRECT_URI:"),
        ("approval_ttl", "soon", "APPROVAL_TTL: not a duration"),
        ("approval_ttl", "0s", "APPROVAL_TTL: must be a positive duration"),
        ("database_url", "mysql://x", "DATABASE_URL: must be sqlite"),
        ("port", "http", "PORT:"),
    ],
)
def test_each_malformed_value_names_its_variable(field: str, value: str, expected: str) -> None:
    problems = _problems(**_valid(**{field: value}))
    assert any(p.startswith(expected) for p in problems), problems


def test_every_missing_variable_is_one_line() -> None:
    problems = _problems()
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_APPROVAL_CHANNEL",
        "SLACK_APPROVERS",
        "UPSTOX_CLIENT_ID",
        "UPSTOX_CLIENT_SECRET",
        "UPSTOX_REDIRECT_URI",
    ):
        assert f"{name}: is required but not set" in problems


def test_http_mode_needs_a_signing_secret_and_postgres_needs_a_key() -> None:
    values = _valid()
    del values["slack_signing_secret"]
    assert any("SLACK_SIGNING_SECRET is required" in p for p in _problems(**values))
    values = _valid(database_url="postgresql://postgres@127.0.0.1/test")
    del values["bot_secret_key"]
    assert any("BOT_SECRET_KEY is required" in p for p in _problems(**values))


def test_slack_oauth_variables_are_refused_because_bolt_would_switch_modes() -> None:
    values = _valid(slack_client_id="123.456", slack_client_secret="abcdef0123")
    assert any("unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET" in p for p in _problems(**values))


def test_secret_values_never_echoed_in_problems() -> None:
    problems = _problems(**_valid(slack_bot_token="xoxp-very-secret-user-token"))
    assert "very-secret" not in "\n".join(problems)


def test_durations() -> None:
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("2d") == timedelta(days=2)
    with pytest.raises(ValueError):
        parse_duration("5 parsecs")


def _pythonpath() -> dict[str, str]:
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def _run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        # PYTHONPATH passes through so that a fresh clone's run starts the clone's own bot.
        env={"PATH": "/usr/bin:/bin", **_pythonpath(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_start_with_nothing_set_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    result = _run_bot({}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert "configuration error: SLACK_BOT_TOKEN: is required but not set" in lines
    assert all(line.startswith("configuration error: ") for line in lines)
    # Six missing variables, and (in the same pass) HTTP mode without a signing secret.
    assert any("SLACK_SIGNING_SECRET is required in HTTP mode" in line for line in lines)
    assert len(lines) == 7


def test_start_with_malformed_bot_token_exits_2(tmp_path: Path) -> None:
    env = {k.upper(): v for k, v in _valid(slack_bot_token="abc").items()}
    result = _run_bot(env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'configuration error: SLACK_BOT_TOKEN: must be a bot token starting with "xoxb-"'
    ]


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    env = {k.upper(): v for k, v in _valid(slack_bot_token="abc").items()}
    (tmp_path / ".env").write_text("SLACK_APPROVAL_CHANNEL=nope\n")
    del env["SLACK_APPROVAL_CHANNEL"]
    result = _run_bot(env, tmp_path)
    assert result.returncode == 2
    assert any(
        "SLACK_APPROVAL_CHANNEL: must be a channel ID" in line
        for line in result.stderr.splitlines()
    )


def test_cross_field_and_per_field_problems_are_reported_in_one_pass() -> None:
    # A malformed field (the channel) and two problems between fields (HTTP mode without a
    # signing secret, PostgreSQL without a key): all three lines at once.
    values = _valid(
        slack_approval_channel="#trading",
        database_url="postgresql://bot@127.0.0.1/test",
        slack_signing_secret="",
        bot_secret_key="",
    )
    problems = _problems(**values)
    assert any(p.startswith("SLACK_APPROVAL_CHANNEL: must be a channel ID") for p in problems)
    assert any(p.startswith("SLACK_SIGNING_SECRET is required in HTTP mode") for p in problems)
    assert any(p.startswith("BOT_SECRET_KEY is required with PostgreSQL") for p in problems)
    assert len(problems) == 3, problems


def test_two_cross_field_problems_are_two_lines() -> None:
    values = _valid(
        database_url="postgresql://bot@127.0.0.1/test", slack_signing_secret="", bot_secret_key=""
    )
    problems = _problems(**values)
    assert len(problems) == 2, problems


def test_postgresql_without_its_driver_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The driver is the `postgres` extra; without it, a PostgreSQL URL is a config error,
    not a ModuleNotFoundError at the first query."""
    import bot.config

    monkeypatch.setattr(bot.config, "_has_module", lambda name: name != "psycopg")
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="postgresql://postgres@127.0.0.1:5432/test",
    )
    with pytest.raises(ValidationError) as refused:
        settings_from_env(env)
    assert "pip install 'staticip-bot[postgres]'" in str(refused.value)
