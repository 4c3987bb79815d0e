"""The approvals channel: post, update in place, link to a message.

Services talk to the channel through this one class, so what the bot says in Slack is
always an explicit call (`post`, `update`) in the flow that says it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PostedMessage:
    channel: str
    ts: str


class SlackChannel:
    """One account's approvals channel. With several accounts (`account` set) every message
    names its account: the fallback text starts with it and the blocks with a context line,
    so no card, alert or note can be mistaken for another account's."""

    def __init__(self, client: AsyncWebClient, channel: str, *, account: str | None = None) -> None:
        self.client = client
        self.channel = channel
        self.account = account

    def _named(self, text: str, blocks: Blocks | None) -> tuple[str, Blocks | None]:
        if self.account is None:
            return text, blocks
        label = f"Account `{self.account}`"
        context = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{label}*"}]}
        return f"[{self.account}] {text}", [context, *blocks] if blocks else blocks

    async def post(
        self, text: str, blocks: Blocks | None = None, *, thread_ts: str | None = None
    ) -> PostedMessage:
        """Post in the channel; with `thread_ts`, as a reply that is also shown in the
        channel (so nobody has to open the thread to see it)."""
        text, blocks = self._named(text, blocks)
        response = await self.client.chat_postMessage(
            channel=self.channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            thread_ts=thread_ts,
            reply_broadcast=True if thread_ts else None,
        )
        return PostedMessage(channel=str(response["channel"]), ts=str(response["ts"]))

    async def reply(self, message: PostedMessage, text: str) -> PostedMessage:
        """A reply in the thread of `message` (never broadcast to the channel)."""
        text, _ = self._named(text, None)
        response = await self.client.chat_postMessage(
            channel=message.channel, thread_ts=message.ts, text=text, unfurl_links=False
        )
        return PostedMessage(channel=str(response["channel"]), ts=str(response["ts"]))

    async def update(self, message: PostedMessage, text: str, blocks: Blocks | None = None) -> None:
        text, blocks = self._named(text, blocks)
        await self.client.chat_update(
            channel=message.channel, ts=message.ts, text=text, blocks=blocks or []
        )

    async def permalink(self, channel: str | None, ts: str | None) -> str | None:
        """A link to a message, or None (never raises: a link is a nicety)."""
        if not channel or not ts:
            return None
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except Exception:
            log.warning("chat.getPermalink failed")
            return None
        link = response.get("permalink")
        return str(link) if link else None
