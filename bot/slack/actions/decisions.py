"""The approval card's Approve and Reject buttons.

Acknowledge at once, then hand the click to the service, which loads the request, checks
its state and the clicker, and decides atomically. The button's value is only a request
id and is never trusted beyond that. Refusals reach only the clicker (ephemeral).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.log import request_id_var
from bot.runtime import Runtime
from bot.service.change_requests import Verb
from bot.service.errors import UserFacingError
from bot.slack.blocks.request_card import APPROVE_ACTION, REJECT_ACTION

log = logging.getLogger(__name__)


def clicked_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    return value if isinstance(value, str) else ""


async def tell_clicker(
    body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient, text: str
) -> None:
    if body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return
    channel = (body.get("channel") or {}).get("id")
    user = (body.get("user") or {}).get("id")
    if channel and user:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)


async def handle_decision(
    runtime: Runtime,
    verb: Verb,
    body: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    user_id = str((body.get("user") or {}).get("id", ""))
    try:
        await runtime.requests.decide(clicked_value(body), user_id, verb)
    except UserFacingError as error:
        await tell_clicker(body, respond, client, error.user_message)
    except Exception:
        log.exception("%s click failed", verb.value)
        await tell_clicker(
            body,
            respond,
            client,
            "Sorry, something went wrong on the bot's side; the card shows the request's "
            f"real state. (reference `{request_id_var.get()}`)",
        )


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(APPROVE_ACTION)
    async def approve(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        await handle_decision(runtime, Verb.APPROVE, body, respond, client)

    @app.action(REJECT_ACTION)
    async def reject(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        await handle_decision(runtime, Verb.REJECT, body, respond, client)
