"""Async client for the Upstox endpoints the bot needs.

Reads (GET /v2/user/ip, GET /v2/user/profile) are retried on 429, 5xx, timeouts and
connection errors with exponential backoff and jitter. Nothing else is retried: above
all not the PUT, because each accepted change uses up the week's only change and
invalidates every token. When the PUT was sent but no answer came back, the client
raises `UpstoxOutcomeUnknown` and the caller reconciles by reading the IPs back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from bot.upstox.errors import (
    ApiErrorDetail,
    Endpoint,
    UpstoxApiError,
    UpstoxError,
    UpstoxOutcomeUnknown,
    UpstoxRateLimited,
    UpstoxUnavailable,
    error_for_response,
    parse_error_details,
    parse_retry_after,
)
from bot.upstox.models import (
    AccessTokenRequestBody,
    AccessTokenRequestStarted,
    Profile,
    StaticIps,
    StaticIpUpdateResult,
    SuccessEnvelope,
    TokenExchangeRequest,
    TokenResponse,
    UpdateStaticIpsRequest,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.upstox.com"
# A read never waits longer than this between attempts; a Retry-After beyond it is passed
# to the caller ("try again in N s") instead of keeping a Slack user waiting.
MAX_BACKOFF_SECONDS = 5.0
_REDACTED = "[redacted]"

ModelT = TypeVar("ModelT", bound=BaseModel)

# Errors raised before any byte of the request left this host: safe to call "unavailable"
# even for the PUT.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class UpstoxClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 10.0,
        read_attempts: int = 3,
        backoff_base: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: Callable[[str, str, float], None] | None = None,
    ) -> None:
        """`timeout` bounds each phase of a call (httpx) and, as one total deadline, the
        whole PUT: a PUT never waits longer than `timeout` for its answer.

        `observe(endpoint, result, seconds)` is called after every HTTP attempt, with
        result one of 2xx, 3xx, 4xx, 5xx or transport_error (the bot's metrics)."""
        if read_attempts < 1:
            raise ValueError("read_attempts must be at least 1")
        if timeout <= 0 or backoff_base < 0:
            raise ValueError("timeout must be positive and backoff_base not negative")
        self._base_url = base_url.rstrip("/")
        self._read_attempts = read_attempts
        self.put_deadline = timeout
        self._backoff_base = backoff_base
        self._observe = observe
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
            headers={"Accept": "application/json"},
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"UpstoxClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Static IPs and profile ------------------------------------------------------------

    async def get_static_ips(self, token: SecretStr) -> StaticIps:
        response = await self._read(Endpoint.GET_IPS, "/v2/user/ip", token)
        return _parse_data(Endpoint.GET_IPS, response, StaticIps)

    async def update_static_ips(
        self, token: SecretStr, primary_ip: str, secondary_ip: str | None
    ) -> StaticIpUpdateResult:
        """PUT both IPs exactly once. Never retried; see `UpstoxOutcomeUnknown`."""
        body = UpdateStaticIpsRequest(primary_ip=primary_ip, secondary_ip=secondary_ip)
        try:
            # One total deadline: httpx's timeout is per phase (connect, write, each read),
            # so without it a slow answer could take several times `timeout`.
            async with asyncio.timeout(self.put_deadline):
                response = await self._send(
                    Endpoint.PUT_IPS, "PUT", "/v2/user/ip", token=token, json=body.to_json()
                )
        except TimeoutError:
            raise UpstoxOutcomeUnknown(
                f"no answer to the PUT within {self.put_deadline:g} s"
            ) from None
        try:
            return _parse_data(Endpoint.PUT_IPS, response, StaticIpUpdateResult)
        except UpstoxApiError as exc:
            # A 2xx means Upstox accepted the change; only its description is unreadable.
            raise UpstoxOutcomeUnknown(
                f"PUT accepted but the answer was unreadable ({exc.message})",
                status=response.status_code,
            ) from None

    async def get_profile(self, token: SecretStr) -> Profile:
        response = await self._read(Endpoint.PROFILE, "/v2/user/profile", token)
        return _parse_data(Endpoint.PROFILE, response, Profile)

    # Login -----------------------------------------------------------------------------

    def authorization_url(self, *, client_id: str, redirect_uri: str, state: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "state": state,
            },
            quote_via=quote,
        )
        return f"{self._base_url}/v2/login/authorization/dialog?{query}"

    async def exchange_code(
        self, *, code: str, client_id: str, client_secret: SecretStr, redirect_uri: str
    ) -> TokenResponse:
        """Exchange a (single-use) authorization code. Not retried: a retry would fail anyway."""
        form = TokenExchangeRequest(
            code=code, client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri
        )
        response = await self._send(
            Endpoint.TOKEN_EXCHANGE,
            "POST",
            "/v2/login/authorization/token",
            data=form.to_form(),
            secrets=(client_secret, SecretStr(code)),
        )
        document = _json_object(Endpoint.TOKEN_EXCHANGE, response)
        # The docs show a flat object; accept the usual envelope too.
        data = document.get("data")
        if "access_token" not in document and isinstance(data, dict):
            document = data
        return _validate(Endpoint.TOKEN_EXCHANGE, response, TokenResponse, document)

    async def start_access_token_request(
        self, *, client_id: str, client_secret: SecretStr
    ) -> AccessTokenRequestStarted:
        body = AccessTokenRequestBody(client_secret=client_secret)
        response = await self._send(
            Endpoint.TOKEN_REQUEST,
            "POST",
            f"/v3/login/auth/token/request/{quote(client_id, safe='')}",
            json=body.to_json(),
            secrets=(client_secret,),
        )
        return _parse_data(Endpoint.TOKEN_REQUEST, response, AccessTokenRequestStarted)

    # Transport -------------------------------------------------------------------------

    async def _read(self, endpoint: Endpoint, path: str, token: SecretStr) -> httpx.Response:
        attempt = 1
        while True:
            try:
                return await self._send(endpoint, "GET", path, token=token, attempt=attempt)
            except (UpstoxRateLimited, UpstoxUnavailable) as exc:
                retry_after = exc.retry_after if isinstance(exc, UpstoxRateLimited) else None
                if attempt >= self._read_attempts or (retry_after or 0) > MAX_BACKOFF_SECONDS:
                    raise
                delay = self._backoff(attempt, retry_after)
                log.warning(
                    "%s failed (%s), retry %d/%d in %.2fs",
                    endpoint.value,
                    exc,
                    attempt,
                    self._read_attempts - 1,
                    delay,
                )
                await asyncio.sleep(delay)
                attempt += 1

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = self._backoff_base * 2.0 ** (attempt - 1)
        # "Equal jitter": at least half the exponential step, so retries do spread out.
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not crypto
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, MAX_BACKOFF_SECONDS)

    async def _send(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        token: SecretStr | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        secrets: tuple[SecretStr, ...] = (),
        attempt: int = 1,
    ) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
            secrets = (*secrets, token)
        started = time.monotonic()
        try:
            response = await self._http.request(method, path, headers=headers, json=json, data=data)
        except httpx.TransportError as exc:
            if self._observe is not None:
                self._observe(endpoint.value, "transport_error", time.monotonic() - started)
            raise _transport_error(endpoint, exc, secrets) from None
        if self._observe is not None:
            result = f"{response.status_code // 100}xx"
            self._observe(endpoint.value, result, time.monotonic() - started)
        log.debug(
            "%s -> HTTP %d in %.0f ms (attempt %d)",
            endpoint.value,
            response.status_code,
            (time.monotonic() - started) * 1000,
            attempt,
        )
        if response.is_success:
            return response
        details = _scrub(parse_error_details(response.content), secrets)
        error = error_for_response(
            endpoint,
            response.status_code,
            details,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            fallback_message=f"{endpoint.value} answered HTTP {response.status_code}",
        )
        log.info("%s failed: %r", endpoint.value, error)
        raise error


def _transport_error(
    endpoint: Endpoint, exc: httpx.TransportError, secrets: tuple[SecretStr, ...]
) -> UpstoxError:
    detail = _redact(f"{type(exc).__name__}: {exc}".rstrip(": "), secrets)
    if endpoint is Endpoint.PUT_IPS and not isinstance(exc, _NOT_SENT):
        log.error("PUT /v2/user/ip sent but unanswered (%s): outcome unknown", detail)
        return UpstoxOutcomeUnknown(
            f"PUT /v2/user/ip was sent but no answer came back ({detail}); read the IPs back"
        )
    log.info("%s unavailable: %s", endpoint.value, detail)
    return UpstoxUnavailable(f"{endpoint.value}: {detail}")


def _redact(text: str, secrets: tuple[SecretStr, ...]) -> str:
    for secret in secrets:
        value = secret.get_secret_value()
        if value:
            text = text.replace(value, _REDACTED)
    return text


def _scrub(details: list[ApiErrorDetail], secrets: tuple[SecretStr, ...]) -> list[ApiErrorDetail]:
    """Remove any echo of a secret from Upstox's error texts before they travel further."""
    cleaned = []
    for detail in details:
        update: dict[str, Any] = {}
        if detail.message is not None:
            update["message"] = _redact(detail.message, secrets)
        if isinstance(detail.invalid_value, str):
            update["invalid_value"] = _redact(detail.invalid_value, secrets)
        cleaned.append(detail.model_copy(update=update))
    return cleaned


def _json_object(endpoint: Endpoint, response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise UpstoxApiError(
            f"{endpoint.value}: answer is not a JSON object", status=response.status_code
        )
    return document


def _parse_data(endpoint: Endpoint, response: httpx.Response, model: type[ModelT]) -> ModelT:
    document = _json_object(endpoint, response)
    envelope = _validate(endpoint, response, SuccessEnvelope[dict[str, Any]], document)
    return _validate(endpoint, response, model, envelope.data)


def _validate(
    endpoint: Endpoint, response: httpx.Response, model: type[ModelT], document: Any
) -> ModelT:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        # Only the locations: pydantic's own message would repeat the input, token included.
        where = ", ".join(".".join(str(part) for part in err["loc"]) or "-" for err in exc.errors())
        raise UpstoxApiError(
            f"{endpoint.value}: unexpected answer (bad fields: {where})",
            status=response.status_code,
        ) from None
