from __future__ import annotations

from bot.service.errors import UserFacingError


class StoreError(Exception):
    """Base of the store's own failures that callers are expected to handle."""


class RequestAlreadyOpen(StoreError, UserFacingError):
    def __init__(self, account: str, existing_id: str | None) -> None:
        shown = f" (`{existing_id}`)" if existing_id else ""
        UserFacingError.__init__(
            self,
            f"There is already an open change request{shown}. It must be decided, cancelled "
            "or expire before a new one can be made.",
            code="request_already_open",
        )
        self.account = account
        self.existing_id = existing_id


class TokenUndecryptable(StoreError):
    """The stored token cannot be decrypted (wrong BOT_SECRET_KEY or corrupted row).

    The message never contains the ciphertext or any plaintext.
    """
