"""Exceptions raised by the Upstox client: one type per meaning the bot acts on.

Upstox reuses error codes across endpoints (the kill-switch API uses UDAPI1185 for a
12-hour cooling period), so codes are interpreted together with the endpoint that
returned them, never on their own and never by HTTP status alone.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

NotAllowedReason = Literal["not_allowed", "app_inactive", "not_available"]


class ApiErrorDetail(BaseModel):
    """One entry of the `errors[]` envelope; reads snake_case, falls back to camelCase."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    error_code: str | None = Field(
        default=None, validation_alias=AliasChoices("error_code", "errorCode")
    )
    message: str | None = None
    property_path: str | None = Field(
        default=None, validation_alias=AliasChoices("property_path", "propertyPath")
    )
    invalid_value: Any = Field(
        default=None, validation_alias=AliasChoices("invalid_value", "invalidValue")
    )


class UpstoxError(Exception):
    """Base of every client error. `str()` is `CODE: message` and never contains a token."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: list[ApiErrorDetail] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.errors: list[ApiErrorDetail] = list(errors or [])

    def __str__(self) -> str:
        prefix = self.code or (f"HTTP {self.status}" if self.status is not None else None)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"message={self.message!r})"
        )


class UpstoxTokenInvalid(UpstoxError):
    """401 / UDAPI100050: the token is invalid, expired or was invalidated by an IP change."""


class UpstoxWeeklyLimit(UpstoxError):
    """UDAPI1185 on PUT /v2/user/ip: the IPs were already changed this week."""


class UpstoxInvalidInput(UpstoxError):
    """UDAPI1182/1183/1184: missing primary, invalid IP, or primary equals secondary."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class UpstoxNotAllowed(UpstoxError):
    """UDAPI1179/1180/1181: permanent refusals for this user or app."""

    def __init__(self, message: str, *, reason: NotAllowedReason, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason: NotAllowedReason = reason


class UpstoxConcurrentUpdate(UpstoxError):
    """UDAPI1186: another update won; the week's change is probably used."""


class UpstoxRateLimited(UpstoxError):
    """429 / UDAPI10005."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UpstoxUnavailable(UpstoxError):
    """5xx, timeouts and connection errors (reads: after the retries were used up)."""


class UpstoxOutcomeUnknown(UpstoxError):
    """The PUT was sent but no usable answer came back: read the IPs to reconcile."""


class UpstoxApiError(UpstoxError):
    """Any other error; keeps Upstox's code and message verbatim."""


class Endpoint(enum.Enum):
    """The endpoint an error came from; decides what its codes mean."""

    GET_IPS = "GET /v2/user/ip"
    PUT_IPS = "PUT /v2/user/ip"
    PROFILE = "GET /v2/user/profile"
    TOKEN_EXCHANGE = "POST /v2/login/authorization/token"  # noqa: S105 - a route
    TOKEN_REQUEST = "POST /v3/login/auth/token/request/{client_id}"  # noqa: S105

    @property
    def uses_bearer_token(self) -> bool:
        return self in (Endpoint.GET_IPS, Endpoint.PUT_IPS, Endpoint.PROFILE)

    @property
    def is_static_ip(self) -> bool:
        return self in (Endpoint.GET_IPS, Endpoint.PUT_IPS)


_NOT_ALLOWED: dict[str, NotAllowedReason] = {
    "UDAPI1179": "not_allowed",
    "UDAPI1180": "app_inactive",
    "UDAPI1181": "not_available",
}
_INPUT_FIELDS: dict[str, str | None] = {
    "UDAPI1182": "primary_ip",
    "UDAPI1183": None,  # either field; Upstox's property_path says which
    "UDAPI1184": "secondary_ip",
}
TOKEN_INVALID_CODE = "UDAPI100050"  # noqa: S105 - an error code
RATE_LIMITED_CODE = "UDAPI10005"
SERVER_ERROR_CODE = "UDAPI100500"


def parse_error_details(body: bytes) -> list[ApiErrorDetail]:
    """The `errors[]` of an Upstox error envelope; empty when the body is not one."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(document, dict):
        return []
    raw_errors = document.get("errors")
    if isinstance(raw_errors, dict):
        raw_errors = [raw_errors]
    if not isinstance(raw_errors, list):
        return []
    details = []
    for item in raw_errors:
        if not isinstance(item, dict):
            continue
        try:
            details.append(ApiErrorDetail.model_validate(item))
        except ValidationError:
            continue
    return details


def parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: not worth honouring for a 429
    return seconds if seconds >= 0 else None


def error_for_response(
    endpoint: Endpoint,
    status: int,
    details: list[ApiErrorDetail],
    *,
    retry_after: float | None = None,
    fallback_message: str | None = None,
) -> UpstoxError:
    """Map an error answer to the exception type that carries its meaning for `endpoint`.

    The first error entry whose code has a meaning on this endpoint wins; otherwise the
    HTTP status decides. A 5xx on the PUT is `UpstoxOutcomeUnknown`: a gateway error can
    arrive after the change was applied (docs: "PUT outcome unknown: GET to reconcile").
    """
    first = details[0] if details else None
    code = first.error_code if first else None
    message = (first.message if first else None) or fallback_message or f"HTTP {status}"
    common: dict[str, Any] = {"status": status, "errors": details}

    for detail in details:
        found = _error_for_code(endpoint, detail, common, retry_after)
        if found is not None:
            return found

    if status == 401 and endpoint.uses_bearer_token:
        return UpstoxTokenInvalid(message, code=code, **common)
    if status == 429:
        return UpstoxRateLimited(message, code=code, retry_after=retry_after, **common)
    if status >= 500:
        if endpoint is Endpoint.PUT_IPS:
            return UpstoxOutcomeUnknown(message, code=code, **common)
        return UpstoxUnavailable(message, code=code, **common)
    return UpstoxApiError(message, code=code, **common)


def _error_for_code(
    endpoint: Endpoint,
    detail: ApiErrorDetail,
    common: dict[str, Any],
    retry_after: float | None,
) -> UpstoxError | None:
    code = detail.error_code
    if code is None:
        return None
    message = detail.message or code
    if code == TOKEN_INVALID_CODE and endpoint.uses_bearer_token:
        return UpstoxTokenInvalid(message, code=code, **common)
    if code == RATE_LIMITED_CODE:
        return UpstoxRateLimited(message, code=code, retry_after=retry_after, **common)
    if code == SERVER_ERROR_CODE:
        if endpoint is Endpoint.PUT_IPS:
            return UpstoxOutcomeUnknown(message, code=code, **common)
        return UpstoxUnavailable(message, code=code, **common)
    if endpoint.is_static_ip and code in _NOT_ALLOWED:
        return UpstoxNotAllowed(message, code=code, reason=_NOT_ALLOWED[code], **common)
    if endpoint is Endpoint.PUT_IPS:
        if code in _INPUT_FIELDS:
            field = detail.property_path or _INPUT_FIELDS[code]
            return UpstoxInvalidInput(message, code=code, field=field, **common)
        if code == "UDAPI1185":
            return UpstoxWeeklyLimit(message, code=code, **common)
        if code == "UDAPI1186":
            return UpstoxConcurrentUpdate(message, code=code, **common)
    return None
