"""The change-request form: `/staticip set` with no arguments, and App Home's button.

Open it with `open_change_request_modal` right after `ack()` (a trigger_id lives 3 s).
On submit, what the input alone can tell is answered as field errors in the ack; the
rest needs Upstox, so the modal switches to "checking…" and is then updated with the
outcome (the request id and a link to the card, or why nothing was requested).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.log import request_id_var
from bot.runtime import Runtime
from bot.service.change_requests import MAX_REASON, InvalidFields, check_fields
from bot.service.errors import UserFacingError
from bot.slack.blocks.request_card import requester_confirmation
from bot.slack.request_links import card_permalink

log = logging.getLogger(__name__)

CALLBACK_ID = "staticip_set"
FIELDS = ("primary", "secondary", "reason")
_ACTION = "value"

View = dict[str, Any]


def _input(block_id: str, label: str, *, optional: bool, hint: str, **element: Any) -> View:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "hint": {"type": "plain_text", "text": hint},
        "element": {"type": "plain_text_input", "action_id": _ACTION, **element},
    }


def change_request_modal() -> View:
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Change static IPs"},
        "submit": {"type": "plain_text", "text": "Request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": ":warning: Upstox allows one change per calendar week, and a "
                        "change logs out every Upstox session. An approver decides in the "
                        "approvals channel.",
                    }
                ],
            },
            _input(
                "primary",
                "New primary IP",
                optional=False,
                hint="The public IP your trading host uses, e.g. 8.8.8.8",
                placeholder={"type": "plain_text", "text": "8.8.8.8"},
                max_length=64,
            ),
            _input(
                "secondary",
                "New secondary IP (optional)",
                optional=True,
                hint="Leave empty to keep the registered secondary",
                max_length=64,
            ),
            _input(
                "reason",
                "Reason",
                optional=False,
                hint="Why the IPs must change; the approver sees this",
                multiline=True,
                max_length=MAX_REASON,
            ),
        ],
    }


def result_modal(text: str) -> View:
    return {
        "type": "modal",
        "callback_id": f"{CALLBACK_ID}_result",
        "title": {"type": "plain_text", "text": "Change static IPs"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


async def open_change_request_modal(
    client: AsyncWebClient, trigger_id: str, runtime: Runtime | None = None
) -> None:
    """Open the form (call right after ack; `runtime` is accepted for future defaults)."""
    await client.views_open(trigger_id=trigger_id, view=change_request_modal())


def submitted_values(view: View) -> dict[str, str]:
    values = (view.get("state") or {}).get("values") or {}
    found = {}
    for field in FIELDS:
        value = (values.get(field) or {}).get(_ACTION) or {}
        found[field] = str(value.get("value") or "")
    return found


async def handle_submission(
    runtime: Runtime, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
) -> None:
    view = body.get("view") or {}
    values = submitted_values(view)
    try:
        check_fields(
            values["primary"],
            values["secondary"],
            values["reason"],
            allow_non_public=runtime.settings.allow_non_public_ips,
        )
    except InvalidFields as error:
        await ack(response_action="errors", errors=error.errors)
        return
    await ack(response_action="update", view=result_modal(":hourglass: Checking with Upstox…"))
    user_id = str((body.get("user") or {}).get("id", ""))
    try:
        request = await runtime.requests.create(
            user_id, values["primary"], values["secondary"] or None, values["reason"]
        )
        text = ":white_check_mark: " + requester_confirmation(
            request, await card_permalink(client, request)
        )
    except UserFacingError as error:
        text = f":x: {error.user_message}"
    except Exception:
        log.exception("change request from the form failed")
        text = (
            ":x: Sorry, something went wrong on the bot's side and nothing was requested. "
            f"(reference `{request_id_var.get()}`)"
        )
    view_id = view.get("id")
    if view_id:
        await client.views_update(view_id=view_id, view=result_modal(text))


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(CALLBACK_ID)
    async def submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await handle_submission(runtime, ack, body, client)
