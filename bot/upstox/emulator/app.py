"""The emulator's ASGI app: Upstox's routes, the fault middleware and the admin API."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.upstox.emulator.admin import ADMIN_PREFIX, admin_router
from bot.upstox.emulator.rules import EmulatorError, error_envelope
from bot.upstox.emulator.state import CallRecord, EmulatorState, Fault, TokenRecord, route_key

CALL_SCOPE_KEY = "upstox_emulator.call"

_DEFAULT_FORCED = {
    401: ("UDAPI100050", "Invalid token used to access API"),
    429: ("UDAPI10005", "Too many requests. Please try again after some time."),
}


def create_app(state: EmulatorState) -> FastAPI:
    app = FastAPI(title="Upstox emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(EmulatorError, _emulator_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    _add_api_routes(app, state)
    app.include_router(admin_router(state), prefix=ADMIN_PREFIX)
    app.add_middleware(FaultMiddleware, state=state)
    return app


def success(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data}, status_code=status)


async def _emulator_error(_request: Request, exc: EmulatorError) -> JSONResponse:
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if request.url.path.startswith(ADMIN_PREFIX):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    return JSONResponse(
        error_envelope("UDAPI10000", f"{exc.detail}: {request.method} {request.url.path}"),
        status_code=exc.status_code,
    )


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise EmulatorError(400, "UDAPI100038", "Invalid input: body is not JSON") from None


def _add_api_routes(app: FastAPI, state: EmulatorState) -> None:
    def bearer(request: Request) -> TokenRecord:
        token = state.authenticate(request.headers.get("authorization"))
        state.check_rate_limit(token, route_key(request.method, request.url.path))
        return token

    @app.get("/v2/user/ip")
    async def get_ips(request: Request) -> Response:
        token = bearer(request)
        state.check_ip_access(token.user_id)
        return success(state.ips_json(token.user_id))

    @app.put("/v2/user/ip")
    async def put_ips(request: Request) -> Response:
        token = bearer(request)
        call = request.scope.get(CALL_SCOPE_KEY)
        if isinstance(call, CallRecord):
            call.user_id = token.user_id
        state.check_ip_access(token.user_id)
        body = await _json_body(request)
        if isinstance(call, CallRecord):
            call.body = body
        primary, secondary = state.begin_ip_update(token, body)
        if state.put_delay and not await state.hangs.wait(state.put_delay):
            state.finish_ip_update(token, primary, secondary, commit=False)
            raise EmulatorError(503, "UDAPI100500", "Emulator reset while the update was pending")
        return success(state.finish_ip_update(token, primary, secondary, commit=True))

    @app.get("/v2/user/profile")
    async def get_profile(request: Request) -> Response:
        return success(state.profile_json(bearer(request).user_id))  # the token's own user

    @app.delete("/v2/logout")
    async def logout(request: Request) -> Response:
        state.revoke(bearer(request))
        return success(True)

    @app.get("/v2/login/authorization/dialog")
    async def authorization_dialog(request: Request) -> Response:
        params = request.query_params
        redirect_uri = params.get("redirect_uri")
        code = state.authorize(params.get("response_type"), params.get("client_id"), redirect_uri)
        # The real dialog asks the user to log in; the emulator's user always agrees.
        query = {"code": code}
        if "state" in params:
            query["state"] = params["state"]
        separator = "&" if "?" in str(redirect_uri) else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)

    @app.post("/v2/login/authorization/token")
    async def exchange_token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        return JSONResponse(state.exchange_code(form))

    @app.post("/v3/login/auth/token/request/{client_id}")
    async def token_request(client_id: str, request: Request) -> Response:
        return success(state.start_token_request(client_id, await _json_body(request)))


class FaultMiddleware:
    """Logs every API call and plays the injected faults (latency, errors, hangs, drops)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        receive = await _replayable(scope, receive)
        call = state.record_call(scope["method"], scope["path"], _call_user(state, scope))
        scope[CALL_SCOPE_KEY] = call  # so a route can add what it received to the call log

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
            await send(message)

        async def swallowing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]  # what it would have answered

        if state.latency:
            await state.hangs.wait(state.latency)
        fault = state.take_fault(call.route, call.user_id)
        if fault is None:
            await self.app(scope, receive, recording_send)
            return
        call.fault = fault.kind
        if fault.kind == "status":
            call.outcome = "forced"
            await _forced_error(fault, recording_send)
        elif fault.kind == "timeout":
            call.outcome = "timeout"
            await self._hang(fault, recording_send)
        elif fault.kind == "drop":
            call.outcome = "dropped"
            await _drop(send)  # call.status stays None: no real answer was given
        else:
            # Apply the request for real, then lose the answer.
            await self.app(scope, receive, swallowing_send)
            if fault.kind == "commit_then_drop":
                call.outcome = "committed_then_dropped"
                await _drop(send)
            else:
                call.outcome = "committed_then_timeout"
                await self._hang(fault, send)

    async def _hang(self, fault: Fault, send: Send) -> None:
        await self.state.hangs.wait(fault.hang_seconds)
        # Normally the client gave up long ago and uvicorn discards this.
        body = json.dumps(error_envelope("UDAPI100500", "Gateway timeout")).encode()
        await _send_raw(send, 504, body, {})


_TOKEN_EXCHANGE = "POST /v2/login/authorization/token"  # noqa: S105 - a route


async def _replayable(scope: Scope, receive: Receive) -> Receive:
    """For the token exchange, read the (small) form body now so the call's user can be
    found from its client_id, and hand the app a receive that replays it."""
    if route_key(scope["method"], scope["path"]) != _TOKEN_EXCHANGE:
        return receive
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    scope[_BODY_SCOPE_KEY] = b"".join(m.get("body", b"") for m in messages)

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


_BODY_SCOPE_KEY = "upstox_emulator.body"


def _call_user(state: EmulatorState, scope: Scope) -> str | None:
    """Whose call this is: the bearer token's user, else the owner of the client_id the
    call names (login dialog query, token exchange form, token request path)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return state.token_user(value.strip())
    path: str = scope["path"]
    client_id: str | None = None
    if path.startswith("/v3/login/auth/token/request/"):
        client_id = path.removeprefix("/v3/login/auth/token/request/").strip("/")
    elif route_key(scope["method"], path) == "GET /v2/login/authorization/dialog":
        query = scope.get("query_string", b"").decode("latin-1")
        client_id = dict(parse_qsl(query)).get("client_id")
    elif _BODY_SCOPE_KEY in scope:
        form = dict(parse_qsl(scope[_BODY_SCOPE_KEY].decode("utf-8", "replace")))
        client_id = form.get("client_id")
    return state.user_for_client(client_id) if client_id else None


async def _forced_error(fault: Fault, send: Send) -> None:
    status = fault.status or 500
    if fault.body is not None:
        content = fault.body
    else:
        default = _DEFAULT_FORCED.get(status) or (
            ("UDAPI100500", "Something went wrong") if status >= 500 else ("UDAPI100000", "Error")
        )
        content = error_envelope(fault.error_code or default[0], fault.message or default[1])
    headers = {}
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
    await _send_raw(send, status, json.dumps(content).encode(), headers)


async def _send_raw(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw_headers = [(b"content-type", b"application/json")]
    raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    # Start a response and return without a body: uvicorn then closes the connection, so
    # the client sees a broken answer (httpx: RemoteProtocolError), never a status.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        }
    )
