"""The App Home's buttons: "Request change" (the set-change modal) and "Log in".

The Home has no channel and no response_url, so anything the bot needs to say in answer
to a click is shown in a small modal opened with the click's trigger_id.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.webhook_response import WebhookResponse

from bot.runtime import Runtime
from bot.slack.blocks.home import LOGIN_ACTION, REQUEST_CHANGE_ACTION
from bot.slack.blocks.login import login_prompt

log = logging.getLogger(__name__)


def notice_view(
    title: str, text: str, blocks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body = blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": body,
    }


class ModalRespond(AsyncRespond):
    """`respond()` for a command run from the Home: the answer becomes a modal."""

    def __init__(self, client: AsyncWebClient, trigger_id: str) -> None:
        super().__init__(response_url=None)
        self._client = client
        self._trigger_id = trigger_id

    async def __call__(  # type: ignore[override]
        self,
        text: str | dict[str, Any] = "",
        blocks: Any = None,
        **_: Any,
    ) -> WebhookResponse:
        message = text if isinstance(text, str) else str(text.get("text", ""))
        try:
            await self._client.views_open(
                trigger_id=self._trigger_id, view=notice_view("staticip", message, blocks)
            )
        except Exception:
            # The trigger may already be used (the handler opened its own modal first).
            log.warning("could not show a Home answer in a modal")
        return WebhookResponse(url="", status_code=200, body="", headers={})


async def open_request_modal(
    runtime: Runtime, client: AsyncWebClient, body: dict[str, Any]
) -> None:
    """Run `/staticip set` with no arguments, which opens the set-change modal."""
    from bot.slack.commands import run_handler, set_ips
    from bot.slack.commands.context import CommandContext

    trigger_id = str(body.get("trigger_id", ""))
    ctx = CommandContext(
        runtime=runtime,
        user_id=str(body.get("user", {}).get("id", "")),
        channel_id=None,
        subcommand="set",
        args="",
        trigger_id=trigger_id,
        respond=ModalRespond(client, trigger_id),
        client=client,
    )
    await run_handler(set_ips.handle, ctx)


async def open_login_modal(runtime: Runtime, client: AsyncWebClient, body: dict[str, Any]) -> None:
    user_id = str(body.get("user", {}).get("id", ""))
    trigger_id = str(body.get("trigger_id", ""))
    # A fresh link on every click: a link baked into an old Home view would have expired.
    link = await runtime.login.login_link(user_id)
    text, blocks = login_prompt(link, runtime.clock())
    await client.views_open(
        trigger_id=trigger_id, view=notice_view("Log in to Upstox", text, blocks)
    )


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(REQUEST_CHANGE_ACTION)
    async def request_change(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_request_modal(runtime, client, body)

    @app.action(LOGIN_ACTION)
    async def log_in(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        try:
            await open_login_modal(runtime, client, body)
        except Exception:
            log.exception("could not open the login modal from the App Home")
