"""BOT_SECRET_KEY: signs OAuth state and encrypts tokens at rest.

When it is not configured (single replica on SQLite) it is generated once and kept beside
the SQLite file, readable only by the bot's user.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings, SettingsError, secret_key_problem

KEY_FILE_NAME = "bot-secret.key"


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a `sqlite:///...` URL, or None for memory/other databases."""
    _, sep, path = database_url.partition(":///")
    if not database_url.startswith("sqlite") or not sep or not path or path == ":memory:":
        return None
    return Path(path.split("?", 1)[0])


class SecretKeyFileError(SettingsError):
    """The generated key file cannot be trusted: too open, not a file, or not a key."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


def resolve_secret_key(settings: Settings) -> SecretStr:
    if settings.bot_secret_key is not None:
        return settings.bot_secret_key
    db_file = sqlite_path(settings.database_url)
    directory = db_file.parent if db_file is not None else Path.cwd()
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / KEY_FILE_NAME
    if not key_file.exists():
        _create(key_file)
    return SecretStr(_read(key_file))


def _create(key_file: Path) -> None:
    """Write a new key to a temporary file, fsync it, then hard-link it into place.

    link() fails if another process got there first, so every process ends up reading the
    same complete key; the fsyncs make sure that after a crash the key file is either
    absent or whole, never empty (tokens encrypted with a lost key cannot be read back).
    """
    directory = key_file.parent
    temp = directory / f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, key_file)
    finally:
        temp.unlink()
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(key_file: Path) -> str:
    """The key, refused when anyone but the bot's user could read or replace it."""
    try:
        fd = os.open(key_file, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SecretKeyFileError(f"{key_file}: cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretKeyFileError(f"{key_file}: not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise SecretKeyFileError(
                f"{key_file}: group or others have access to the secret key (mode "
                f"{mode:04o}); run `chmod 600 {key_file}`, then consider the key leaked"
            )
        content = handle.read(4096).decode("ascii", "replace").strip()
    problem = secret_key_problem(content)
    if problem:
        raise SecretKeyFileError(f"{key_file}: not a usable key, it {problem}")
    return content
