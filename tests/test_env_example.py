""".env.example lists exactly the variables the settings model reads, each with a comment and
a safe value, and is itself a configuration the bot accepts."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings
from tests.support.settings_env import refused_env_names, settings_env_names

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".env.example"
_ACTIVE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
_COMMENTED = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=")


def _lines() -> list[str]:
    return EXAMPLE.read_text().splitlines()


def _active() -> dict[str, str]:
    pairs = [m.groups() for line in _lines() if (m := _ACTIVE.match(line))]
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    return dict(pairs)


def _commented() -> set[str]:
    return {m.group(1) for line in _lines() if (m := _COMMENTED.match(line))}


def test_keys_are_exactly_the_settings_variables() -> None:
    assert set(_active()) | _commented() == set(settings_env_names())


def test_refused_variables_are_only_mentioned_commented_out() -> None:
    assert refused_env_names(), "the model refuses SLACK_CLIENT_ID/SECRET"
    assert _commented() == refused_env_names()
    assert not refused_env_names() & set(_active())


def test_every_key_has_a_comment_line_above_it() -> None:
    lines = _lines()
    for number, line in enumerate(lines):
        if _ACTIVE.match(line):
            assert number > 0 and lines[number - 1].startswith("# "), line


def test_secrets_are_empty_or_placeholders() -> None:
    active = _active()
    names = settings_env_names()
    for env, field_name in names.items():
        annotation = Settings.model_fields[field_name].annotation
        if SecretStr in (annotation, *typing.get_args(annotation)) and env in active:
            value = active[env]
            assert value == "" or "replace-with" in value, f"{env}={value}"


def test_copied_to_dotenv_it_is_a_valid_configuration(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(EXAMPLE.read_text())
    settings = Settings(_env_file=dotenv)  # type: ignore[call-arg]
    assert not settings.socket_mode and not settings.is_postgres
    assert settings.slack_requesters == []
    assert settings.bot_secret_key is None
