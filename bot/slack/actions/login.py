"""The "Log in to Upstox" URL button.

Slack opens the URL in the browser and still sends a block_actions payload, which must be
acknowledged or the user sees an error; there is nothing else to do here (the login
itself completes on /upstox/callback).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.blocks.login import LOGIN_ACTION_ID

log = logging.getLogger(__name__)


async def acknowledge_login_click(ack: AsyncAck, body: dict[str, Any]) -> None:
    await ack()
    log.info("login button opened by %s", body.get("user", {}).get("id", "?"))


def register(app: AsyncApp) -> None:
    app.action(LOGIN_ACTION_ID)(acknowledge_login_click)
