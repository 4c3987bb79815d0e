"""Events API listeners: the App Home."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime

log = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any]) -> None:
        # Bolt acknowledges events itself before this runs.
        if event.get("tab") != "home" or not event.get("user"):
            return
        try:
            await runtime.home.opened(str(event["user"]))
        except Exception:
            log.exception("could not publish the App Home")
