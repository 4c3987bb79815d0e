"""Domain errors that carry the text to show the Slack user.

The Slack layer catches `UserFacingError` once and shows `user_message` ephemerally;
anything else is a bug and gets a generic apology plus a log line.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An expected failure whose explanation is safe and useful to show the user."""

    code: str = "error"

    def __init__(self, user_message: str, *, code: str | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        if code is not None:
            self.code = code
