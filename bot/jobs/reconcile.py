"""The reconcile sweep: finish approved-but-unapplied requests and settle unknown outcomes.

Start-up and every login already reconcile, but neither happens when Upstox merely comes
back after an outage, or when a crashed replica is restarted within the grace period of
a possibly in-flight PUT (the start-up pass then has to leave the row alone). Without this
sweep such a request would wait, blocking new requests, until somebody logs in. It never
sends a blind PUT: approved requests are re-checked first, "applying" ones only read back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def reconcile_sweep(runtime: Runtime) -> None:
    await runtime.requests.reconcile_unfinished()
