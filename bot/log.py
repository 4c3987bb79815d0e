"""Logging: one line per event on stdout, tagged with a request id, secrets redacted.

Redaction works on the final formatted line, so a secret cannot slip through an
exception message, a library's debug output or an `extra` field.
"""

from __future__ import annotations

import bisect
import contextvars
import json
import logging
import re
import string
import sys
import threading
import uuid
from collections.abc import Iterable

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Shapes that are secrets whatever their value: Slack tokens, bearer headers, JWT-like blobs
# (`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`). The JWT shape is not given to the
# regex engine: tried at every "eyJ" of a long run such as "eyJeyJeyJ…", it scans to the end
# of the run each time, which is quadratic. `_shapes` finds the same matches in linear time.
_PLAIN_SHAPES = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
)
_JWT_RUN = re.compile(r"[A-Za-z0-9_-]*")
_JWT_TAIL = re.compile(r"\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_JWT_MIN_HEAD = 8
REDACTED = "[redacted]"

# A log line is cut to about this many characters (its start and its end are kept), so
# that neither the redaction nor the log output can be blown up by one huge line.
MAX_LINE_CHARS = 8 * 1024
_HEAD_CHARS = MAX_LINE_CHARS * 3 // 4
_TAIL_CHARS = MAX_LINE_CHARS - _HEAD_CHARS
# What a token, header value or secret shape is made of: a run of these cut in two by the
# truncation is dropped whole, because half a token no longer has a recognisable shape.
_RUN_CHARS = string.ascii_letters + string.digits + "._~+/=-"


class SecretRedactor:
    """Holds the secret values known at run time (settings, tokens as they arrive)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        # (values longest first, length of the longest): computed once per `add`, not once
        # per line, and swapped as one object so `redact` never sees half an update.
        self._known: tuple[tuple[str, ...], int] = ((), 0)

    def add(self, values: Iterable[str | None]) -> None:
        # Very short values would redact ordinary words; real secrets are long.
        fresh = {v for v in values if v and len(v) >= 6}
        with self._lock:
            if fresh <= self._values:
                return
            self._values = self._values | fresh
            ordered = tuple(sorted(self._values, key=len, reverse=True))
            self._known = (ordered, len(ordered[0]))

    def redact(self, text: str) -> str:
        """`text` without secrets, at most about `MAX_LINE_CHARS` long, in linear time."""
        ordered, longest = self._known
        size = len(text)
        if size <= MAX_LINE_CHARS:
            return _shapes(_render(text, 0, size, _spans(text, [(0, size)], ordered)))
        # Keep the start and the end. Known secrets are looked for a little beyond each cut,
        # and a cut never falls inside a secret or a run of token characters: half a secret
        # would be neither recognised nor masked.
        windows = [(0, _HEAD_CHARS + longest), (size - _TAIL_CHARS - longest, size)]
        spans = _spans(text, windows, ordered)
        head_end = _cut(text, spans, _HEAD_CHARS, backwards=True)
        tail_start = _cut(text, spans, size - _TAIL_CHARS, backwards=False)
        head = _shapes(_render(text, 0, head_end, spans))
        tail = _shapes(_render(text, tail_start, size, spans))
        return f"{head} …[{tail_start - head_end} characters cut]… {tail}"


def _spans(
    text: str, windows: list[tuple[int, int]], ordered: tuple[str, ...]
) -> list[tuple[int, int]]:
    """Where the secrets occur within the windows of `text`: sorted, overlaps merged.

    `value in window` is CPython's fast substring search: measured faster than one compiled
    alternation of every secret, and most lines hold no secret at all.
    """
    found = []
    for lo, hi in windows:
        lo = max(lo, 0)
        window = text[lo:hi]
        for value in ordered:
            if value in window:
                start = window.find(value)
                while start >= 0:
                    found.append((lo + start, lo + start + len(value)))
                    start = window.find(value, start + 1)
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _cut(text: str, spans: list[tuple[int, int]], at: int, *, backwards: bool) -> int:
    """Move a cut at `at` out of any secret and out of any run of token characters."""
    while True:
        moved = at
        index = bisect.bisect_left(spans, (moved, moved)) - 1
        if index >= 0 and spans[index][0] < moved < spans[index][1]:
            moved = spans[index][0] if backwards else spans[index][1]
        if 0 < moved < len(text) and text[moved - 1] in _RUN_CHARS and text[moved] in _RUN_CHARS:
            if backwards:
                moved = len(text[:moved].rstrip(_RUN_CHARS))
            else:
                moved = len(text) - len(text[moved:].lstrip(_RUN_CHARS))
        if moved == at:
            return at
        at = moved


def _render(text: str, lo: int, hi: int, spans: list[tuple[int, int]]) -> str:
    """text[lo:hi] with every span inside it replaced by REDACTED."""
    pieces, position = [], lo
    for start, end in spans:
        if start >= position and end <= hi:
            pieces.append(text[position:start])
            pieces.append(REDACTED)
            position = end
    pieces.append(text[position:hi])
    return "".join(pieces)


def _shapes(text: str) -> str:
    """Replace the secret shapes by REDACTED, exactly as one `re.sub` of the alternation
    "Slack token | bearer value | JWT" would, but in linear time.

    A JWT starting at an "eyJ" has its first part run to the end of that run of
    [A-Za-z0-9_-] (a "." must follow), so whether it matches depends only on the room left
    in the run and on what follows the run: both are computed once per run.
    """
    if "eyJ" not in text:
        return _PLAIN_SHAPES.sub(REDACTED, text)
    pieces: list[str] = []
    position = 0
    plain = _PLAIN_SHAPES.search(text)
    jwt: tuple[int, int] | None = None
    run_start, run_end, tail_end = -1, -1, -1  # the last run looked at; tail_end -1: none
    while True:
        if plain is not None and plain.start() < position:
            plain = _PLAIN_SHAPES.search(text, position)
        if jwt is None or jwt[0] < position:
            jwt = None
            at = text.find("eyJ", position)
            while at >= 0:
                if not run_start <= at < run_end:
                    run_start, run_end = at, _JWT_RUN.match(text, at).end()  # type: ignore[union-attr]
                    tail = _JWT_TAIL.match(text, run_end)
                    tail_end = tail.end() if tail else -1
                if tail_end >= 0 and run_end - at - 3 >= _JWT_MIN_HEAD:
                    jwt = (at, tail_end)
                    break
                # A later "eyJ" in the same run has even less room: none of them matches.
                at = text.find("eyJ", run_end)
        if plain is not None and (jwt is None or plain.start() < jwt[0]):
            start, end = plain.span()
        elif jwt is not None:
            start, end = jwt
        else:
            break
        pieces.append(text[position:start])
        pieces.append(REDACTED)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


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


class _JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object per line with time, level, logger, request_id,
    message and (when there is one) exception. Each value is redacted as the text line is,
    so a secret cannot slip out through any field; the JSON encoding then escapes it."""

    def __init__(self) -> None:
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%S%z")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "logger": record.name,
            "request_id": request_id_var.get(),
            "message": redactor.redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redactor.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redactor.redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", secrets: Iterable[str] = (), *, fmt: str = "text"
) -> None:
    redactor.add(secrets)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _LineFormatter())
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
