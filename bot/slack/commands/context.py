"""What a subcommand handler receives: the parsed command and the ways to answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime


@dataclass(frozen=True)
class CommandContext:
    runtime: Runtime
    user_id: str
    channel_id: str | None
    subcommand: str
    args: str
    trigger_id: str | None
    respond: AsyncRespond
    client: AsyncWebClient

    async def reply(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer to the person who typed the command."""
        await self.respond(text=text, blocks=blocks, response_type="ephemeral")
