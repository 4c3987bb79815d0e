"""The ASGI app: Bolt's adapter at /slack/events beside the health (and Upstox) routes."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import metrics
from bot.app import build
from bot.config import Settings
from bot.edge import SLACK_BODY_LIMIT, EdgeGuard
from bot.ist import Clock, system_clock
from bot.log import new_request_id, request_id_var
from bot.login.routes import MAX_NOTIFIER_BODY, NOTIFIER_PATH, add_upstox_routes
from bot.login.token_routes import add_token_routes
from bot.slack.payload_guard import malformed_reason
from bot.week_window import change_window

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
# The request line logged per request: a path longer than this is cut (it is the client's).
MAX_LOGGED_PATH = 200


class RequestIdMiddleware:
    """Tags everything a request causes with one id, and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_id_var.set(new_request_id())
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            path = scope["path"]
            if path not in ("/healthz", "/readyz"):
                if len(path) > MAX_LOGGED_PATH:
                    path = f"{path[:MAX_LOGGED_PATH]}…({len(path)} characters)"
                log.info("%s %s -> %s in %.1f ms", scope["method"][:16], path, status, elapsed_ms)
            request_id_var.reset(token)


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    bot = build(settings, clock=clock)
    bolt = bot.bolt_app()
    slack_handler = AsyncSlackRequestHandler(bolt)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        socket_handler: AsyncSocketModeHandler | None = None
        await bot.start()
        if settings.slack_app_token is not None:
            # Imported here: an HTTP-mode bot never loads the Socket Mode client.
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_handler = AsyncSocketModeHandler(
                bolt, settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
        app.state.ready = True
        log.info("ready: %s mode", "Socket Mode" if settings.socket_mode else "HTTP")
        try:
            yield
        finally:
            app.state.ready = False
            if socket_handler is not None:
                await socket_handler.close_async()  # type: ignore[no-untyped-call]
            await bot.stop()
            log.info("stopped")

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bot = bot
    app.state.ready = False
    # Outermost first: the request line is logged even for a body refused at the edge.
    signing_secret = settings.slack_signing_secret
    app.add_middleware(
        EdgeGuard,
        limits={SLACK_PATH: SLACK_BODY_LIMIT, NOTIFIER_PATH: MAX_NOTIFIER_BODY},
        slack_path=SLACK_PATH,
        slack_verifier=(
            SignatureVerifier(signing_secret.get_secret_value())
            if signing_secret is not None and not settings.socket_mode
            else None
        ),
    )
    app.add_middleware(RequestIdMiddleware)

    if not settings.socket_mode:

        @app.post(SLACK_PATH)
        async def slack_events(request: Request) -> Response:
            with bot.acks.waiting():  # acknowledgements go before acknowledged work
                body = await request.body()
                problem = malformed_reason(body, request.headers.get("content-type"))
                if problem is not None:
                    log.warning("malformed Slack request refused: %s", problem)
                    return JSONResponse({"error": f"malformed request: {problem}"}, status_code=400)
                return await slack_handler.handle(request)

    add_upstox_routes(app, bot.logins)
    add_token_routes(app, {account.name: account.delivery for account in bot.accounts})

    if settings.metrics_enabled:
        metrics.enable()

        @app.get("/metrics")
        async def metrics_route() -> Response:
            alerts = 0
            now = bot.clock()
            for account in bot.accounts:
                token = await account.tokens.status()
                alerts += len(await account.alerts.active())
                last = account.gateway.last_read
                window = None
                if last is not None:
                    ips = last[0]
                    window = change_window(
                        ips.primary_ip_updated_at, ips.secondary_ip_updated_at, now
                    )
                metrics.record_account(
                    account=account.settings.account,
                    token_state=token.health,
                    window=window,
                    now=now,
                )
            body, content_type = metrics.render(alerts_active=alerts)
            return Response(body, media_type=content_type)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if not app.state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        if not await bot.db.ping():
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
