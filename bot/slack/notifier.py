"""The Notifier the services use, implemented with the Slack Web API."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.service.notifier import PostedMessage


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self._client = client
        self._channel = channel

    async def post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> PostedMessage:
        response = await self._client.chat_postMessage(
            channel=self._channel, text=text, blocks=blocks, unfurl_links=False
        )
        return PostedMessage(channel=str(response["channel"]), ts=str(response["ts"]))

    async def update(
        self, message: PostedMessage, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        await self._client.chat_update(
            channel=message.channel, ts=message.ts, text=text, blocks=blocks or []
        )
