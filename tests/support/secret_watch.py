"""Watching for secrets where they must never appear: log lines and what is sent to Slack.

`LogLines` is a logging handler that keeps every line (message and traceback, without the
bot's redaction: a secret must not be logged in the first place). `leaks` finds secret
values in any texts. tests/conftest.py runs both around every test; tests/security checks
a real process's whole output too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tests.support.bot_runner import (
    BOT_SECRET_KEY,
    SLACK_BOT_TOKEN,
    TOKEN_API_KEY,
    TOKEN_API_KEY_2,
    TOKEN_WEBHOOK_SECRET,
    UPSTOX_CLIENT_SECRET,
)
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import SIGNING_SECRET

STATIC_SECRETS = {
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
    "UPSTOX_CLIENT_SECRET": UPSTOX_CLIENT_SECRET,
    "BOT_SECRET_KEY": BOT_SECRET_KEY,
    "TOKEN_API_KEYS": TOKEN_API_KEY,
    "TOKEN_API_KEYS (2nd)": TOKEN_API_KEY_2,
    "TOKEN_WEBHOOK_SECRET": TOKEN_WEBHOOK_SECRET,
}
# The fake Upstox is not the bot: its own log lines may name what it issued.
_NOT_THE_BOT = ("bot.upstox.emulat",)


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []
        self._guard = threading.Lock()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_NOT_THE_BOT):
            return
        try:
            line = self.format(record)
        except Exception:  # a broken log call is not this watcher's business
            return
        with self._guard:
            self.lines.append(line)


@contextmanager
def collecting_logs() -> Iterator[LogLines]:
    handler = LogLines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def slack_texts(fake_slack: FakeSlack) -> list[str]:
    """Everything the bot sent to Slack (messages, cards, views, response_url posts)."""
    return [f"{c.method} {c.text_blob()}" for c in list(fake_slack.calls)]


def leaks(texts: Iterable[str], secrets: dict[str, str]) -> list[str]:
    """`<name> in: <text…>` for every secret found in any text."""
    found = []
    for text in texts:
        for name, value in secrets.items():
            if value and value in text:
                found.append(f"{name} in: {text[:300]}")
    return found
