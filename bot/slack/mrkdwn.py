"""Small mrkdwn helpers: escaping outside text and writing mentions."""

from __future__ import annotations

import re

_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")


def escape(text: str) -> str:
    """Escape Slack's control characters so outside text (Upstox messages, IPs) cannot
    become a link, a mention or `<!channel>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Outside text as inline code (backticks inside would end it early, so drop them)."""
    cleaned = escape(text.replace("`", "'"))
    return f"`{cleaned}`"


def mention(slack_id: str) -> str:
    """`<@U…>` for a user, `<!subteam^S…>` for a user group, escaped text otherwise."""
    if _USER.match(slack_id):
        return f"<@{slack_id}>"
    if _GROUP.match(slack_id):
        return f"<!subteam^{slack_id}>"
    return escape(slack_id)


def channel_link(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL.match(channel_id) else escape(channel_id)
