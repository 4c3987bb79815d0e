"""Links to approval cards (chat.getPermalink), with a graceful fallback."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.store.models import ChangeRequest

log = logging.getLogger(__name__)


async def card_permalink(client: AsyncWebClient, request: ChangeRequest) -> str | None:
    if request.card_channel is None or request.card_ts is None:
        return None
    try:
        response = await client.chat_getPermalink(
            channel=request.card_channel, message_ts=request.card_ts
        )
    except Exception:
        log.warning("chat.getPermalink failed for %s", request.id)
        return None
    link = response.get("permalink")
    return str(link) if link else None
