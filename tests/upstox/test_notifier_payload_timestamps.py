"""A notifier payload with a silly timestamp is a validation error (issue 16, item 4).

Before, a huge `expires_at`/`issued_at` escaped `datetime.fromtimestamp` as an
OverflowError (or OSError), which the notifier route did not map to a 400 and so answered
500. The route maps ValidationError to 400; an end-to-end test belongs with the route once
it has moved (bot/upstox_routes.py is being reorganised).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bot.upstox import AccessTokenRequestStarted, NotifierPayload


def payload(**fields: Any) -> dict[str, Any]:
    return {
        "client_id": "key",
        "user_id": "AB1234",
        "access_token": "tok-value-123",
        "token_type": "Bearer",
        "expires_at": "1731448800000",
        "issued_at": "1731412800000",
        "message_type": "access_token",
        **fields,
    }


SILLY = [
    "9" * 30,  # digit string far beyond datetime's range
    "9" * 5000,  # beyond int()'s default digit limit
    10**30,
    -(10**30),
    1e300,
    float("inf"),
    float("nan"),
    "99999999999999999",  # year ~3170
    -1,  # before 1970
    "9999-12-31 23:59:59",
    "0001-01-01 00:00:00",
    "not a time",
]


@pytest.mark.parametrize("field", ["expires_at", "issued_at"])
@pytest.mark.parametrize("value", SILLY, ids=repr)
def test_a_silly_timestamp_is_a_validation_error(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        NotifierPayload.model_validate(payload(**{field: value}))
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]
    assert "tok-value-123" not in str(raised.value)


def test_the_access_token_request_expiry_is_guarded_too() -> None:
    with pytest.raises(ValidationError):
        AccessTokenRequestStarted.model_validate({"authorization_expiry": "9" * 30})


@pytest.mark.parametrize(
    "value",
    ["1731448800000", 1731448800000, 1731448800000.0, "2024-11-12 22:00:00+00:00"],
    ids=repr,
)
def test_ordinary_timestamps_still_parse(value: Any) -> None:
    parsed = NotifierPayload.model_validate(payload(expires_at=value))
    assert parsed.expires_at == datetime(2024, 11, 12, 22, 0, tzinfo=UTC)


def test_null_timestamps_are_none() -> None:
    parsed = NotifierPayload.model_validate(payload(expires_at=None, issued_at=None))
    assert parsed.expires_at is None and parsed.issued_at is None
