"""`respond()` over one shared HTTP session.

Bolt's own `respond()` builds a new webhook client, and with it a new aiohttp session and a
new TLS connection to hooks.slack.com, for every answer. Under a burst of commands that
connection set-up is a large share of the bot's CPU (see README, "Performance"); a shared
session keeps connections alive between answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook.async_client import AsyncWebhookClient
from slack_sdk.webhook.webhook_response import WebhookResponse


class ResponseSession:
    """The aiohttp session for response_url posts, opened on first use in the running loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class PooledRespond(AsyncRespond):
    """Bolt's `respond()` signature, sent through a shared session."""

    def __init__(self, response_url: str | None, session: ResponseSession) -> None:
        super().__init__(response_url=response_url)
        self._session = session

    async def __call__(
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any] | Block] | None = None,
        attachments: Sequence[dict[str, Any] | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        if not isinstance(text, str) or thread_ts is not None:
            raise ValueError("only text/blocks/attachments answers are supported here")
        client = AsyncWebhookClient(url=self.response_url, session=self._session.get())
        return await client.send(
            text=text,
            blocks=blocks,
            attachments=attachments,
            response_type=response_type,
            replace_original=replace_original,
            delete_original=delete_original,
            unfurl_links=unfurl_links,
            unfurl_media=unfurl_media,
            metadata=metadata,
        )
