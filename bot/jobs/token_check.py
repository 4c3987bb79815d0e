"""The token check: turn "the token is dead" into state as soon as possible.

The alert itself belongs to the login service (a `tokens.on_dead` listener): this job only
makes the state change happen, once, so that listener fires.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.service.tokens import NotLoggedIn
from bot.upstox import UpstoxTokenInvalid

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


async def token_check(runtime: Runtime) -> None:
    """At most one Upstox call: a profile read, and only while the token looks valid.

    `tokens.status()` flips a token past its 03:30 IST expiry without asking Upstox; the
    profile call catches a token Upstox has dropped (a 401 flips it in the gateway).
    UpstoxUnavailable/RateLimited propagate so that the scheduler backs off.
    """
    if (await runtime.tokens.status()).health != "valid":
        return
    try:
        await runtime.upstox_gateway.profile()
    except (UpstoxTokenInvalid, NotLoggedIn):
        # The gateway has flipped the state; the on_dead listeners post and refresh.
        log.info("token check: the Upstox session is over")
