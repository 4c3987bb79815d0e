"""The store's own failures. They carry facts, never user-facing text: the services that
catch them decide what a person is told."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's own failures that callers are expected to handle."""


class RequestAlreadyOpen(StoreError):
    """The account already has an open change request (`existing_id`, when known)."""

    def __init__(self, account: str, existing_id: str | None) -> None:
        super().__init__(f"account {account!r} already has an open request {existing_id!r}")
        self.account = account
        self.existing_id = existing_id


class TokenUndecryptable(StoreError):
    """The stored token cannot be decrypted (wrong BOT_SECRET_KEY or corrupted row).

    The message never contains the ciphertext or any plaintext.
    """
