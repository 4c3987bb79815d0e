"""The pending-request expiry sweep: hands over to the change-request service."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def expiry_sweep(runtime: Runtime) -> None:
    """Expire overdue pending requests (their cards are updated by the service)."""
    expired = await runtime.requests.expire_due()
    if expired:
        runtime.refresh_home()
