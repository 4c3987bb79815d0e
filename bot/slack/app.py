"""Builds the Bolt AsyncApp with every value passed explicitly (Bolt would read env vars)."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from bot.slack import commands
from bot.slack import events as home_events
from bot.slack.actions import decisions as decision_actions
from bot.slack.actions import home as home_actions
from bot.slack.actions import login as login_actions
from bot.slack.views import change_request as change_request_view


def build_bolt_app(runtime: Runtime) -> AsyncApp:
    settings = runtime.settings
    signing_secret = settings.slack_signing_secret
    app = AsyncApp(
        client=runtime.slack,
        # An explicit "" (never None) keeps Bolt from reading SLACK_SIGNING_SECRET itself.
        signing_secret=signing_secret.get_secret_value() if signing_secret else "",
        request_verification_enabled=not settings.socket_mode,
        process_before_response=False,
        logger=logging.getLogger("bot.slack.bolt"),
    )
    commands.register(app, runtime)
    home_events.register(app, runtime)
    home_actions.register(app, runtime)
    login_actions.register(app)
    decision_actions.register(app, runtime)
    change_request_view.register(app, runtime)
    return app
