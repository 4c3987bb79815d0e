"""Slack listeners of the App Home: publishing on `app_home_opened`, and its "Log in"
button (a fresh link in a small modal: a link baked into an old Home view would have
expired). The "Request change" button opens the change-request form and lives with it,
in `bot.requests.listeners`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.home.blocks import LOGIN_ACTION, notice_view
from bot.home.service import HomePublisher
from bot.ist import Clock
from bot.login.blocks import login_prompt
from bot.login.service import LoginLinks
from bot.slack.commands import clicked_value, error_boundary


def register(
    app: AsyncApp, home: HomePublisher, links: Mapping[str, LoginLinks], clock: Clock
) -> None:
    """`links`: each account's login links by account name, the first one the default."""
    default = next(iter(links.values()))

    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any]) -> None:
        # Bolt acknowledges events itself before this runs.
        if event.get("tab") != "home" or not event.get("user"):
            return
        async with error_boundary("publishing the App Home", _nobody):
            await home.opened(str(event["user"]))

    @app.action(LOGIN_ACTION)
    async def log_in(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        trigger_id = str(body.get("trigger_id", ""))

        async def show(text: str) -> None:
            await client.views_open(trigger_id=trigger_id, view=notice_view("staticip", text))

        async with error_boundary("the App Home login button", show):
            # Several accounts: the button's value names its account (unknown: the first).
            account_links = links.get(clicked_value(body), default)
            link = await account_links.login_link(str(body.get("user", {}).get("id", "")))
            text, blocks = login_prompt(link, clock())
            await client.views_open(
                trigger_id=trigger_id, view=notice_view("Log in to Upstox", text, blocks)
            )


async def _nobody(_text: str) -> None:
    """An event has no one to answer: the boundary's log line is all there is."""
