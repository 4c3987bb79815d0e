"""The ASGI app: Bolt's adapter at /slack/events beside the health (and Upstox) routes."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import build
from bot.config import Settings
from bot.ist import Clock, system_clock
from bot.log import new_request_id, request_id_var
from bot.login.routes import add_upstox_routes
from bot.login.token_routes import add_token_routes
from bot.slack.payload_guard import malformed_reason

log = logging.getLogger(__name__)


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
            if scope["path"] not in ("/healthz", "/readyz"):
                log.info(
                    "%s %s -> %s in %.1f ms", scope["method"], scope["path"], status, elapsed_ms
                )
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
    app.add_middleware(RequestIdMiddleware)

    if not settings.socket_mode:

        @app.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            problem = malformed_reason(await request.body(), request.headers.get("content-type"))
            if problem is not None:
                log.warning("malformed Slack request refused: %s", problem)
                return JSONResponse({"error": f"malformed request: {problem}"}, status_code=400)
            return await slack_handler.handle(request)

    add_upstox_routes(app, bot.login)
    add_token_routes(app, bot.delivery)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if not app.state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        if not await bot.db.ping():
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
