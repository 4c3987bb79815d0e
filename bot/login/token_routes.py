"""`GET /token` and `GET /token/<app>`: the trading system picks up the fresh token.

With several accounts, `GET /token/<account>` is that account's own app and
`GET /token/<account>/<app>` one of its apps; `/token` and `/token/<app>` stay the first
account's.

Thin: the delivery service checks the key, waits if asked and records the fetch. A refused
key gets a 401 with an empty body; no answer is ever cached.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bot.login.delivery import FetchAnswer, TokenDelivery

TOKEN_PATH = "/token"  # noqa: S105 - a route, not a secret

_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _answer(answer: FetchAnswer) -> Response:
    if answer.body is None:
        headers = dict(_NO_STORE)
        if answer.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return Response(status_code=answer.status, headers=headers)
    return JSONResponse(answer.body, status_code=answer.status, headers=_NO_STORE)


def add_token_routes(app: FastAPI, deliveries: Mapping[str, TokenDelivery]) -> None:
    """`deliveries`: each account's, by account name, the first one the default."""
    first = next(iter(deliveries.values()))

    async def serve(
        request: Request, app_name: str | None, delivery: TokenDelivery = first
    ) -> Response:
        params = request.query_params
        answer = await delivery.fetch(
            app_name=app_name,
            authorization=request.headers.get("authorization"),
            wait=params.get("wait"),
            after=params.get("after"),
        )
        return _answer(answer)

    @app.get(TOKEN_PATH)
    async def token(request: Request) -> Response:
        return await serve(request, None)

    # Path parameters are read from the request: a typed parameter makes FastAPI build a
    # pydantic validation model per route at start-up (importing pydantic.v1 to check it).
    @app.get(TOKEN_PATH + "/{app_name}")
    async def app_token(request: Request) -> Response:
        app_name: str = request.path_params["app_name"]
        if len(deliveries) > 1 and app_name in deliveries:
            return await serve(request, None, deliveries[app_name])
        return await serve(request, app_name)

    @app.get(TOKEN_PATH + "/{account}/{app_name}")
    async def account_app_token(request: Request) -> Response:
        account: str = request.path_params["account"]
        app_name: str = request.path_params["app_name"]
        delivery = deliveries.get(account)
        if delivery is None:
            return Response(status_code=401, headers={**_NO_STORE, "WWW-Authenticate": "Bearer"})
        return await serve(request, app_name, delivery)
