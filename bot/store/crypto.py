"""Encryption of tokens at rest: Fernet with a key derived from BOT_SECRET_KEY by HKDF."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.store.errors import TokenUndecryptable

# Distinct `info` per purpose so the same secret can also sign OAuth state safely.
_INFO = b"staticip-bot/token-encryption/v1"
_SALT = b"staticip-bot"


def derive_key(secret: str, *, info: bytes = _INFO) -> bytes:
    if not secret:
        raise ValueError("empty secret")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


class TokenCipher:
    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(derive_key(secret))

    def __repr__(self) -> str:
        return "TokenCipher(<secret>)"

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError, TypeError, ValueError):
            raise TokenUndecryptable(
                "stored token cannot be decrypted: BOT_SECRET_KEY changed or the row is "
                "corrupt; log in again"
            ) from None
