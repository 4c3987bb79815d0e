"""BOT_SECRET_KEY: signs OAuth state and encrypts tokens at rest.

When it is not configured (single replica on SQLite) it is generated once and kept beside
the SQLite file, readable only by the bot's user.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings

KEY_FILE_NAME = "bot-secret.key"


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a `sqlite:///...` URL, or None for memory/other databases."""
    _, sep, path = database_url.partition(":///")
    if not database_url.startswith("sqlite") or not sep or not path or path == ":memory:":
        return None
    return Path(path.split("?", 1)[0])


def resolve_secret_key(settings: Settings) -> SecretStr:
    if settings.bot_secret_key is not None:
        return settings.bot_secret_key
    db_file = sqlite_path(settings.database_url)
    directory = db_file.parent if db_file is not None else Path.cwd()
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / KEY_FILE_NAME
    if not key_file.exists():
        # Write a temporary file, then hard-link it into place: link() fails if another
        # process got there first, so every process ends up reading the same complete key.
        temp = directory / f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temp, key_file)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return SecretStr(key_file.read_text(encoding="ascii").strip())
