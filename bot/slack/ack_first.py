"""Acknowledgements first, then the work.

Slack gives every request 3 seconds to be acknowledged; the answer to a command can take
longer. Bolt acknowledges from a poll (every 10 ms) while the listener goes on with its
work on the same event loop, so under a burst the work of commands already acknowledged
(reads, rendering, posting) ran before the acknowledgement of the next ones. `AckFirst`
counts the Slack requests still waiting for their acknowledgement (`waiting()` around
each request, in `bot.web`); a listener that has acknowledged calls `turn()` before its
work, which returns once no request is waiting — or after `max_delay`, so a steady stream
of requests can delay the work but never starve it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress

# Long enough for a burst of fifty commands to be acknowledged (~1 ms each), short beside
# the 2 s a slow Upstox takes to answer the work that follows.
MAX_DELAY_S = 0.05


class AckFirst:
    def __init__(self, max_delay: float = MAX_DELAY_S) -> None:
        self.max_delay = max_delay
        self._waiting = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def pending(self) -> int:
        """Slack requests received and not yet acknowledged."""
        return self._waiting

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around one Slack request, from its arrival to its acknowledgement."""
        self._waiting += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._waiting -= 1
            if self._waiting == 0:
                self._quiet.set()

    async def turn(self) -> None:
        """Wait until no Slack request waits for its acknowledgement (at most `max_delay`)."""
        if self._waiting == 0:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), self.max_delay)
