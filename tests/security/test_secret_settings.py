"""Secrets in the settings (issue 16, item 2): a weak BOT_SECRET_KEY is a configuration
error, and the password in DATABASE_URL is redacted from the logs."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bot.config import Settings, SettingsError, load_settings, secret_key_problem
from bot.log import REDACTED, SecretRedactor
from tests.support.bot_runner import BOT_SECRET_KEY, bot_env

# The rotated key of tests/login/test_alerts.py.
OTHER_SECRET_KEY = "a-rotated-bot-secret-key-fedcba9876543210fedcba98"


def settings(**overrides: str) -> Settings:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url="sqlite:///x.db",
    )
    env.update({k.upper(): v for k, v in overrides.items()})
    return load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()})


def key_problems(key: str) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        settings(bot_secret_key=key)
    return raised.value.problems


# BOT_SECRET_KEY --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["short-key", "x" * 31, "0123456789abcdefghijklmnopqrstu"])
def test_a_key_shorter_than_32_characters_is_one_config_error(key: str) -> None:
    problems = key_problems(key)
    assert len(problems) == 1
    assert problems[0].startswith("BOT_SECRET_KEY: must be at least 32 characters long")
    assert key not in problems[0]


@pytest.mark.parametrize(
    "key",
    [
        "a" * 40,
        "password" * 5,
        str(uuid.uuid4()),  # 122 random bits
        secrets.token_hex(16),  # 32 characters, 16 bytes
    ],
)
def test_a_long_key_that_cannot_hold_32_bytes_is_refused(key: str) -> None:
    [problem] = key_problems(key)
    assert problem.startswith("BOT_SECRET_KEY: does not look random enough")
    assert key not in problem


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(32),
        secrets.token_hex(32),
        base64.b64encode(os.urandom(32)).decode(),  # openssl rand -base64 32
        BOT_SECRET_KEY,
        OTHER_SECRET_KEY,
    ],
)
def test_generated_keys_and_the_test_keys_are_accepted(key: str) -> None:
    assert settings(bot_secret_key=key).bot_secret_key is not None


def test_a_fresh_token_urlsafe_key_is_never_refused() -> None:
    # The bound must not reject a properly generated key by bad luck (e.g. one without
    # "-" or "_", or without a digit).
    assert all(secret_key_problem(secrets.token_urlsafe(32)) is None for _ in range(20_000))


def test_start_with_a_short_key_exits_2_with_one_line(tmp_path: Path) -> None:
    env = bot_env(
        slack_api_url="http://127.0.0.1:9/api/",
        upstox_base_url="http://127.0.0.1:9",
        database_url=f"sqlite:///{tmp_path}/bot.db",
        bot_secret_key="too-short-secret",
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("configuration error: BOT_SECRET_KEY: must be at least 32")
    assert "too-short-secret" not in result.stderr + result.stdout


# DATABASE_URL password -------------------------------------------------------------------


def test_the_database_password_is_redacted_as_written_and_decoded() -> None:
    url = "postgresql://bot:Db%40Pass-w0rd-Secret@db.internal:5432/staticip"
    configured = settings(database_url=url)
    assert "Db%40Pass-w0rd-Secret" in configured.secret_values()
    assert "Db@Pass-w0rd-Secret" in configured.secret_values()

    known = SecretRedactor()
    known.add(configured.secret_values())
    line = f"cannot connect to {url}: password for user bot (Db@Pass-w0rd-Secret) refused"
    redacted = known.redact(line)
    assert "Pass-w0rd" not in redacted
    assert redacted.count(REDACTED) == 2
    assert "db.internal:5432/staticip" in redacted


def test_a_database_url_without_password_adds_nothing() -> None:
    plain = settings(database_url="postgresql://postgres@127.0.0.1/test")
    assert set(plain.secret_values()) == set(settings().secret_values())
