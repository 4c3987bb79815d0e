"""The IP watch: is this host's public IP registered? (and the window-reopened note)

One run makes at most one Upstox call (GET /v2/user/ip), shared by the drift check and the
window check, and skips it when neither could use it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.jobs.window import check_window
from bot.service.tokens import NotLoggedIn
from bot.service.watch import DRIFT, is_drifting
from bot.service.week_window import ChangeWindow, change_window
from bot.slack.blocks.watch import drift_cleared, drift_started
from bot.upstox import StaticIps, UpstoxTokenInvalid

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


async def ip_watch(runtime: Runtime) -> None:
    lookup = runtime.public_ip
    waiting = await runtime.db.requests.list_open(runtime.settings.account)
    drift_active = await runtime.alerts.is_active(DRIFT)
    if not lookup.configured and not waiting and not drift_active:
        return
    lookup.forget()  # a check every few minutes can afford a fresh answer
    public_ip = await lookup.current()
    if public_ip is None and not waiting and not drift_active:
        return
    try:
        ips = await runtime.upstox_gateway.static_ips()
    except (NotLoggedIn, UpstoxTokenInvalid):
        return  # nothing to compare with; the token check and login alert handle this
    window = change_window(ips.primary_ip_updated_at, ips.secondary_ip_updated_at, runtime.clock())
    drifting = drift_active
    if public_ip is not None:
        drifting = await check_drift(runtime, public_ip, ips, window)
    await check_window(runtime, window, waiting=waiting, drift_ip=public_ip if drifting else None)


async def check_drift(
    runtime: Runtime, public_ip: str, ips: StaticIps, window: ChangeWindow
) -> bool:
    """Start or clear the drift alert; True when this host's IP is not registered."""
    primary, secondary = ips.primary_ip, ips.secondary_ip
    drifting = is_drifting(public_ip, primary, secondary)
    if drifting:
        text, blocks = drift_started(public_ip, primary, secondary, window)
        changed = await runtime.alerts.start(DRIFT, text, blocks, details={"public_ip": public_ip})
    else:
        text, blocks = drift_cleared(public_ip, primary, secondary)
        changed = await runtime.alerts.clear(DRIFT, text, blocks)
    if changed:
        log.info("drift %s for %s", "started" if drifting else "cleared", public_ip)
        runtime.refresh_home()
    return drifting
