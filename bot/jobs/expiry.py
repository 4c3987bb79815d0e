"""The pending-request expiry sweep: hands over to the change-request service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.jobs.facts import optional_service

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def expiry_sweep(runtime: Runtime) -> None:
    """Expire overdue pending requests (their cards are updated by the service)."""
    requests = optional_service(runtime, "requests")
    expire_due = getattr(requests, "expire_due", None)
    if expire_due is None:
        return
    expired = await expire_due()
    if expired:
        runtime.refresh_home()
