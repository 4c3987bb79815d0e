"""Logging: one line per event on stdout, tagged with a request id, secrets redacted.

Redaction works on the final formatted line, so a secret cannot slip through an
exception message, a library's debug output or an `extra` field.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import threading
import uuid
from collections.abc import Iterable

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Shapes that are secrets whatever their value: Slack tokens, bearer headers, JWT-like blobs.
_SECRET_SHAPES = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"
)
REDACTED = "[redacted]"


class SecretRedactor:
    """Holds the secret values known at run time (settings, tokens as they arrive)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()

    def add(self, values: Iterable[str | None]) -> None:
        # Very short values would redact ordinary words; real secrets are long.
        fresh = {v for v in values if v and len(v) >= 6}
        with self._lock:
            self._values = self._values | fresh

    def redact(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return _SECRET_SHAPES.sub(REDACTED, text)


redactor = SecretRedactor()


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


class _LineFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(
            fmt="%(asctime)s %(levelname)s %(name)s req=%(request_id)s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = request_id_var.get()
        line = super().format(record)
        # One event, one line: tracebacks are folded onto it.
        return redactor.redact(line).replace("\n", " | ")


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    redactor.add(secrets)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_LineFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Request lines are logged by our own middleware, with the request id.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
