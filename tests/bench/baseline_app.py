"""The floor: a bare slack_bolt AsyncApp on the bot's serving stack, doing nothing else.

Same Python, same FastAPI + AsyncSlackRequestHandler + uvicorn, same uvicorn options and
listening socket as `python -m bot` (`bot.__main__.serve`), signature checking on. The
`/staticip` listener acknowledges and then answers at once through `respond`, so the
benchmark can compare both the acknowledgement and the end-to-end time against it.

Run: `python -m tests.bench.baseline_app` with HOST, PORT, SLACK_SIGNING_SECRET,
SLACK_BOT_TOKEN and SLACK_API_URL in the environment. Prints `listening on http://…`.
"""

from __future__ import annotations

import os
import sys

import uvicorn
from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.__main__ import _bind

ANSWER = "baseline: acknowledged"


def create_app(signing_secret: str, bot_token: str, api_url: str) -> FastAPI:
    bolt = AsyncApp(
        client=AsyncWebClient(token=bot_token, base_url=api_url),
        signing_secret=signing_secret,
        process_before_response=False,
    )

    @bolt.command("/staticip")
    async def staticip(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(text=ANSWER, response_type="ephemeral")

    handler = AsyncSlackRequestHandler(bolt)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> int:
    app = create_app(
        os.environ["SLACK_SIGNING_SECRET"],
        os.environ["SLACK_BOT_TOKEN"],
        os.environ["SLACK_API_URL"],
    )
    sock = _bind(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "0")))
    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
