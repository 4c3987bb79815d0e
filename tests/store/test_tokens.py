from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.store import Database, open_database
from bot.store.crypto import TokenCipher
from bot.store.errors import TokenUndecryptable
from bot.store.models import TokenSource, TokenState
from tests.support.databases import SECRET, FakeClock

TOKEN = "eyJ0eXAiOiJKV1QiLCJrZXlfaWQiOiJza192MS4wIiwiYWxnIjoiSFMyNTYifQ.SECRET-PAYLOAD-1234"


async def test_save_load_and_decrypt(db: Database, clock: FakeClock) -> None:
    expires = clock.now + timedelta(hours=20)
    saved = await db.tokens.save(
        "default", TOKEN, obtained_via=TokenSource.OAUTH, expires_at=expires, user_id="858644"
    )
    assert saved.state is TokenState.VALID and saved.expires_at == expires
    assert TOKEN.encode() not in saved.ciphertext
    assert TOKEN not in repr(saved)
    assert await db.tokens.get("default") == saved
    assert db.tokens.decrypt(saved) == TOKEN


async def test_invalidate_flips_once_and_spares_newer_tokens(
    db: Database, clock: FakeClock
) -> None:
    expires = clock.now + timedelta(hours=20)
    await db.tokens.save("default", TOKEN, obtained_via=TokenSource.SEED, expires_at=expires)
    decided_at = clock.now
    clock.advance(timedelta(seconds=1))
    await db.tokens.save("default", "newer", obtained_via=TokenSource.OAUTH, expires_at=expires)
    # A 401 seen on the old token must not kill the token stored after it.
    assert not await db.tokens.invalidate("default", "401", obtained_before=decided_at)
    newer = await db.tokens.get("default")
    assert newer is not None and newer.state is TokenState.VALID
    assert db.tokens.decrypt(newer) == "newer"
    assert await db.tokens.invalidate("default", "ip changed")
    assert not await db.tokens.invalidate("default", "ip changed")
    stored = await db.tokens.get("default")
    assert stored is not None and stored.state is TokenState.INVALIDATED
    assert stored.invalidated_reason == "ip changed"
    # Saving again revives it cleanly.
    revived = await db.tokens.save(
        "default", "third", obtained_via=TokenSource.NOTIFIER, expires_at=expires
    )
    assert revived.state is TokenState.VALID and revived.invalidated_reason is None


async def test_ciphertext_in_raw_sqlite_file_does_not_contain_token(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "raw.db"
    db = await open_database(f"sqlite:///{path}", clock=clock, secret_key=SECRET)
    try:
        await db.tokens.save(
            "default", TOKEN, obtained_via=TokenSource.OAUTH, expires_at=clock.now + timedelta(1)
        )
    finally:
        await db.close()  # checkpoints the WAL into the main file
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("raw.db"))
    assert b"default" in raw  # the row really is in the file
    assert TOKEN.encode() not in raw
    assert b"SECRET-PAYLOAD" not in raw


async def test_wrong_key_raises_token_undecryptable_without_leaking(
    db_url: str, clock: FakeClock, db: Database
) -> None:
    await db.tokens.save(
        "default", TOKEN, obtained_via=TokenSource.OAUTH, expires_at=clock.now + timedelta(1)
    )
    other = await open_database(db_url, clock=clock, secret_key="a-different-secret")
    try:
        stored = await other.tokens.get("default")
        assert stored is not None
        with pytest.raises(TokenUndecryptable) as info:
            other.tokens.decrypt(stored)
        text = str(info.value) + repr(info.value)
        assert TOKEN not in text and stored.ciphertext.decode() not in text
        assert info.value.__cause__ is None and info.value.__suppress_context__
    finally:
        await other.close()


def test_cipher_rejects_garbage_and_round_trips() -> None:
    cipher = TokenCipher("k")
    assert cipher.decrypt(cipher.encrypt("x")) == "x"
    assert cipher.encrypt("x") != cipher.encrypt("x")  # random IV
    with pytest.raises(TokenUndecryptable):
        cipher.decrypt(b"not a fernet token")
    assert "k" not in repr(cipher).replace("TokenCipher", "")
    with pytest.raises(ValueError):
        TokenCipher("")


async def test_no_secret_key_means_no_token_storage(db_url: str, clock: FakeClock) -> None:
    db = await open_database(db_url, clock=clock)
    try:
        with pytest.raises(RuntimeError, match="secret key"):
            await db.tokens.save(
                "default", TOKEN, obtained_via=TokenSource.SEED, expires_at=clock.now
            )
    finally:
        await db.close()
