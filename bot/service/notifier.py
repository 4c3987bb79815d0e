"""How the service layer speaks to the approvals channel without knowing about Slack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class PostedMessage:
    channel: str
    ts: str


class Notifier(Protocol):
    async def post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> PostedMessage:
        """Post a message in the approvals channel."""
        ...

    async def update(
        self, message: PostedMessage, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """Replace a message the bot posted earlier."""
        ...
