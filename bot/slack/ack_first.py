"""Acknowledgements first, then the work.

Slack gives every request 3 seconds to be acknowledged; the answer to a command can take
longer. Bolt acknowledges from a poll (every 10 ms) while the listener goes on with its
work on the same event loop, and asyncio runs every callback that is ready before it
looks at the sockets again. So under a burst, the work of commands already acknowledged
(reads, rendering, posting — fifty of them waking at once when a shared Upstox read
returns) ran before the next commands were even read, let alone acknowledged.

`AckFirst` counts the Slack requests still waiting for their acknowledgement (`waiting()`
around each request, in `bot.web`), and has two ways to give way to them:

- `door()`, before a command's work starts (right after its own ack): the work goes
  through one item per turn of the event loop, so the sockets are looked at between any
  two items. It does not wait for the acks themselves: the first command of a burst
  starts the (shared) Upstox read at once, so the answers are not late by the burst.
- `turn()`, before the answer is rendered and posted (the CPU-heavy part, and the part
  that comes in waves when a shared read returns): it waits until no request is waiting
  for its acknowledgement — at most `max_delay`, so a steady stream of requests delays
  the work but never starves it — then passes the door.
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
        self._door = asyncio.Lock()

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
        """Wait until no Slack request waits for its acknowledgement (at most `max_delay`),
        then pass the door."""
        if self._waiting:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.max_delay)
        await self.door()

    async def door(self) -> None:
        """One work item per turn of the event loop."""
        async with self._door:
            await asyncio.sleep(0)  # the loop polls its sockets before the next item goes
