"""The Upstox-facing HTTP routes: the OAuth redirect and the Access Token Request webhook.

Both are thin: parse, call the login service, answer. Neither answer ever carries a token;
the callback pages are small, HTML-escaped and not cached (the URL held a login code).
"""

from __future__ import annotations

import html
import json
import logging

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from bot.login.service import AccountLogins, LoginRefused

log = logging.getLogger(__name__)

CALLBACK_PATH = "/upstox/callback"
NOTIFIER_PATH = "/upstox/notifier"
MAX_NOTIFIER_BODY = 16_384

_NO_STORE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def page(title: str, message: str, *, status: int) -> HTMLResponse:
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No favicon request (a 404 in the browser's console), and a margin at phone width.
        '<link rel="icon" href="data:,"></head>'
        '<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; '
        'padding: 0 1em;">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>\n"
    )
    return HTMLResponse(body, status_code=status, headers=_NO_STORE)


def add_upstox_routes(app: FastAPI, login: AccountLogins) -> None:
    """Registered on the app itself (not an included APIRouter) so that `app.routes` lists
    them plainly, as for every other route."""

    @app.get(CALLBACK_PATH)
    async def upstox_callback(request: Request) -> Response:
        params = request.query_params
        try:
            result = await login.complete_oauth(
                code=params.get("code"),
                state=params.get("state"),
                error=params.get("error"),
                error_description=params.get("error_description"),
            )
        except LoginRefused as refused:
            log.info("Upstox login refused: %s", refused.reason)
            return page("Not logged in", refused.public_message, status=refused.status)
        return page(
            "Logged in",
            f"Logged in to Upstox as {result.user_id}. You can close this tab.",
            status=200,
        )

    @app.post(NOTIFIER_PATH)
    async def upstox_notifier(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_NOTIFIER_BODY:
            return JSONResponse({"status": "error", "reason": "too large"}, status_code=413)
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            return JSONResponse({"status": "error", "reason": "not JSON"}, status_code=400)
        try:
            result = await login.accept_notifier(payload)
        except LoginRefused as refused:
            log.info("notifier message refused: %s", refused.reason)
            return JSONResponse(
                {"status": "error", "reason": refused.public_message}, status_code=refused.status
            )
        return JSONResponse({"status": "ok", "user_id": result.user_id})
