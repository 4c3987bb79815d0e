"""The generated secret key file (issue 16, item 2): written durably (temp file, fsync,
link, directory fsync) and refused when anyone but the bot's user could read it."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest

from bot import secret_key
from bot.config import Settings, load_settings, secret_key_problem
from bot.secret_key import KEY_FILE_NAME, SecretKeyFileError, resolve_secret_key
from tests.support.bot_runner import bot_env

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


# The generated key file ------------------------------------------------------------------


def without_key(tmp_path: Path) -> Settings:
    configured = settings(database_url=f"sqlite:///{tmp_path}/bot.db")
    return configured.model_copy(update={"bot_secret_key": None})


def test_the_key_file_is_fsynced_before_it_is_linked_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, ...]] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd: Any) -> None:
        fd = fd if isinstance(fd, int) else fd.fileno()
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        events.append(("link", str(src), str(dst)))
        real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(secret_key.os, "fsync", fsync)
    monkeypatch.setattr(secret_key.os, "link", link)

    key = resolve_secret_key(without_key(tmp_path))

    key_file = tmp_path / KEY_FILE_NAME
    [linked] = [event for event in events if event[0] == "link"]
    temp, target = linked[1], linked[2]
    assert target == str(key_file) and temp != target
    at = events.index(linked)
    assert ("fsync", temp) in events[:at]
    assert ("fsync", str(tmp_path)) in events[at + 1 :]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == key.get_secret_value()
    assert secret_key_problem(key.get_secret_value()) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE_NAME]  # no temp left
    assert resolve_secret_key(without_key(tmp_path)) == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602])
def test_a_key_file_open_to_group_or_others_stops_start_up(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    value = secrets.token_urlsafe(48)
    key_file.write_text(value)
    key_file.chmod(mode)

    with pytest.raises(SecretKeyFileError) as raised:
        resolve_secret_key(without_key(tmp_path))

    [problem] = raised.value.problems
    assert str(key_file) in problem and f"{mode:04o}" in problem and "chmod 600" in problem
    assert value not in problem


def test_a_private_key_file_written_by_hand_is_used(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    value = secrets.token_urlsafe(48)
    key_file.write_text(value + "\n")
    key_file.chmod(0o600)
    assert resolve_secret_key(without_key(tmp_path)).get_secret_value() == value


@pytest.mark.parametrize("content", ["", "short\n"])
def test_an_empty_or_short_key_file_is_refused(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    key_file.write_text(content)
    key_file.chmod(0o600)
    with pytest.raises(SecretKeyFileError, match="not a usable key"):
        resolve_secret_key(without_key(tmp_path))


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.key"
    elsewhere.write_text(secrets.token_urlsafe(48))
    elsewhere.chmod(0o600)
    (tmp_path / KEY_FILE_NAME).symlink_to(elsewhere)
    with pytest.raises(SecretKeyFileError, match="cannot be read"):
        resolve_secret_key(without_key(tmp_path))
