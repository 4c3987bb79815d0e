"""Typed requests and responses of the Upstox endpoints the bot uses.

Every response model keeps unknown fields (`extra="allow"`, e.g. `user_id` on the IP
read), because the docs, the SDK and the OpenAPI disagree on what is there. Tokens are
`SecretStr`, so they never show in a repr or a log line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, model_validator

from bot.upstox.errors import ApiErrorDetail

__all__ = [
    "AccessTokenRequestBody",
    "AccessTokenRequestStarted",
    "ApiErrorDetail",
    "ErrorEnvelope",
    "NotifierPayload",
    "Profile",
    "StaticIpUpdateResult",
    "StaticIps",
    "SuccessEnvelope",
    "TokenExchangeRequest",
    "TokenResponse",
    "UpdateStaticIpsRequest",
]

# Upstox's timestamps are India Standard Time wall clock (a fixed +05:30, no DST). Defined
# here so the client depends on nothing else in the bot.
IST = timezone(timedelta(hours=5, minutes=30), "IST")


def parse_upstox_timestamp(raw: str) -> datetime:
    """Parse Upstox's `YYYY-MM-DD HH:MM:SS` (IST, no offset) or a real ISO-8601 string."""
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=IST)
    return parsed


# Anything outside this range is not a moment Upstox means; far-off values would also
# overflow later date arithmetic.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _epoch_ms_or_timestamp(value: Any) -> Any:
    """Epoch milliseconds (as Upstox sends them: a digit string) or an ISO/Upstox timestamp.

    A value that is no representable moment (huge, NaN, out of range) is a ValueError, so
    a validation error, never an OverflowError or OSError out of `fromtimestamp`.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _in_range(_from_epoch_ms(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.isdigit():
            return _in_range(_from_epoch_ms(int(text)))
        return _in_range(parse_upstox_timestamp(text))
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=IST)
    return value


def _from_epoch_ms(milliseconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("not a timestamp in epoch milliseconds") from None


def _in_range(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    if not _EARLIEST <= moment < _LATEST:
        raise ValueError("timestamp out of range")
    return moment


EpochMsDatetime = Annotated[datetime, BeforeValidator(_epoch_ms_or_timestamp)]


class _UpstoxModel(BaseModel):
    model_config = ConfigDict(extra="allow")


_TIMESTAMP_FIELDS = ("primary_ip_updated_at", "secondary_ip_updated_at")


class StaticIps(_UpstoxModel):
    """`data` of GET /v2/user/ip. Timestamps are IST wall time; the raw string is kept."""

    primary_ip: str | None = None
    secondary_ip: str | None = None
    primary_ip_updated_at: datetime | None = None
    secondary_ip_updated_at: datetime | None = None
    primary_ip_updated_at_raw: str | None = None
    secondary_ip_updated_at_raw: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse_timestamps(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in _TIMESTAMP_FIELDS:
            value = data.get(name)
            if isinstance(value, str):
                data.setdefault(f"{name}_raw", value)
                try:
                    data[name] = parse_upstox_timestamp(value) if value.strip() else None
                except ValueError:
                    # An unreadable timestamp must not hide the IPs; the raw string stays.
                    data[name] = None
            elif isinstance(value, datetime) and value.tzinfo is None:
                data[name] = value.replace(tzinfo=IST)
        return data

    @property
    def last_changed_at(self) -> datetime | None:
        """The later of the two change times: the start of the weekly lock."""
        moments = [m for m in (self.primary_ip_updated_at, self.secondary_ip_updated_at) if m]
        return max(moments) if moments else None


class StaticIpUpdateResult(StaticIps):
    """`data` of PUT /v2/user/ip. Treat every token as dead even when the flag is missing."""

    access_tokens_invalidated: bool | None = None


class Profile(_UpstoxModel):
    user_id: str
    user_name: str | None = None
    email: str | None = None
    is_active: bool | None = None


class TokenResponse(_UpstoxModel):
    """The flat JSON of POST /v2/login/authorization/token (no `expires_in`)."""

    access_token: SecretStr
    user_id: str
    user_name: str | None = None
    extended_token: SecretStr | None = None


class AccessTokenRequestStarted(_UpstoxModel):
    authorization_expiry: EpochMsDatetime
    notifier_url: str | None = None


class NotifierPayload(_UpstoxModel):
    """What Upstox POSTs to the notifier URL when the user approves an Access Token Request."""

    client_id: str
    user_id: str
    access_token: SecretStr
    token_type: str | None = None
    expires_at: EpochMsDatetime | None = None
    issued_at: EpochMsDatetime | None = None
    message_type: str


class UpdateStaticIpsRequest(BaseModel):
    """Body of PUT /v2/user/ip. Without a secondary IP the key is left out, as the docs ask
    (Upstox then keeps the registered one); an explicit `null` is invalid input."""

    model_config = ConfigDict(extra="forbid")

    primary_ip: str
    secondary_ip: str | None

    def to_json(self) -> dict[str, str]:
        body = {"primary_ip": self.primary_ip}
        if self.secondary_ip is not None:
            body["secondary_ip"] = self.secondary_ip
        return body


class TokenExchangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    client_id: str
    client_secret: SecretStr
    redirect_uri: str
    grant_type: str = "authorization_code"

    def to_form(self) -> dict[str, str]:
        return {
            "code": self.code,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "redirect_uri": self.redirect_uri,
            "grant_type": self.grant_type,
        }


class AccessTokenRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_secret: SecretStr

    def to_json(self) -> dict[str, str]:
        return {"client_secret": self.client_secret.get_secret_value()}


DataT = TypeVar("DataT")


class SuccessEnvelope(BaseModel, Generic[DataT]):
    model_config = ConfigDict(extra="allow")

    status: str
    data: DataT


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str = "error"
    errors: list[ApiErrorDetail] = []
