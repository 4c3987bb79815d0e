"""Parsing without HTTP: models, timestamps, the error envelope and its per-endpoint meaning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ist import IST
from bot.upstox import (
    AccessTokenRequestStarted,
    NotifierPayload,
    StaticIps,
    StaticIpUpdateResult,
    TokenResponse,
    UpstoxApiError,
    UpstoxConcurrentUpdate,
    UpstoxError,
    UpstoxInvalidInput,
    UpstoxNotAllowed,
    UpstoxOutcomeUnknown,
    UpstoxRateLimited,
    UpstoxTokenInvalid,
    UpstoxUnavailable,
    UpstoxWeeklyLimit,
)
from bot.upstox.emulator.rules import week_unlock_at
from bot.upstox.errors import Endpoint, error_for_response, parse_error_details
from bot.upstox.models import UpdateStaticIpsRequest

DOCS_EXAMPLE = {
    "user_id": "858644",
    "primary_ip": "122.181.101.247",
    "secondary_ip": "128.1.1.2",
    "primary_ip_updated_at": "2026-04-03 17:17:50",
    "secondary_ip_updated_at": "2026-04-03 17:17:50",
}


def test_static_ips_docs_example_reads_ist_and_keeps_raw_and_unknown_fields() -> None:
    ips = StaticIps.model_validate(DOCS_EXAMPLE)
    assert ips.primary_ip == "122.181.101.247"
    assert ips.primary_ip_updated_at == datetime(2026, 4, 3, 17, 17, 50, tzinfo=IST)
    assert ips.primary_ip_updated_at_raw == "2026-04-03 17:17:50"
    assert ips.model_extra == {"user_id": "858644"}
    assert ips.last_changed_at == datetime(2026, 4, 3, 11, 47, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    ["2026-04-03T11:47:50Z", "2026-04-03T11:47:50+00:00", "2026-04-03T17:17:50+05:30"],
)
def test_static_ips_accepts_real_iso_8601(raw: str) -> None:
    ips = StaticIps.model_validate({"primary_ip": "1.2.3.4", "primary_ip_updated_at": raw})
    assert ips.primary_ip_updated_at == datetime(2026, 4, 3, 11, 47, 50, tzinfo=UTC)
    assert ips.primary_ip_updated_at_raw == raw


@pytest.mark.parametrize("secondary", [{}, {"secondary_ip": None, "secondary_ip_updated_at": None}])
def test_secondary_may_be_missing_or_null(secondary: dict[str, None]) -> None:
    ips = StaticIps.model_validate(
        {"primary_ip": "1.2.3.4", "primary_ip_updated_at": "2026-04-03 17:17:50", **secondary}
    )
    assert ips.secondary_ip is None
    assert ips.secondary_ip_updated_at is None
    assert ips.last_changed_at == datetime(2026, 4, 3, 17, 17, 50, tzinfo=IST)


def test_last_changed_at_is_the_later_timestamp() -> None:
    ips = StaticIps.model_validate(
        {**DOCS_EXAMPLE, "secondary_ip_updated_at": "2026-04-05 09:00:00"}
    )
    assert ips.last_changed_at == datetime(2026, 4, 5, 9, 0, tzinfo=IST)
    assert StaticIps().last_changed_at is None


def test_unreadable_timestamp_keeps_the_ips_and_the_raw_text() -> None:
    ips = StaticIps.model_validate({"primary_ip": "1.2.3.4", "primary_ip_updated_at": "soon"})
    assert ips.primary_ip == "1.2.3.4"
    assert ips.primary_ip_updated_at is None
    assert ips.primary_ip_updated_at_raw == "soon"


def test_update_result_flag_is_optional() -> None:
    assert StaticIpUpdateResult.model_validate(DOCS_EXAMPLE).access_tokens_invalidated is None
    result = StaticIpUpdateResult.model_validate(
        {**DOCS_EXAMPLE, "access_tokens_invalidated": True}
    )
    assert result.access_tokens_invalidated is True


def test_update_request_omits_a_missing_secondary() -> None:
    body = UpdateStaticIpsRequest(primary_ip="1.2.3.4", secondary_ip=None).to_json()
    assert json.dumps(body) == '{"primary_ip": "1.2.3.4"}'
    both = UpdateStaticIpsRequest(primary_ip="1.2.3.4", secondary_ip="1.2.3.5").to_json()
    assert both == {"primary_ip": "1.2.3.4", "secondary_ip": "1.2.3.5"}


def test_token_response_hides_tokens_and_keeps_the_rest() -> None:
    token = TokenResponse.model_validate(
        {
            "email": "a@example.com",
            "user_id": "AB1234",
            "user_name": "A",
            "exchanges": ["NSE"],
            "access_token": "secret-access-token-value",
            "extended_token": None,
        }
    )
    assert token.access_token.get_secret_value() == "secret-access-token-value"
    assert token.extended_token is None
    assert token.model_extra == {"email": "a@example.com", "exchanges": ["NSE"]}
    assert "secret-access-token-value" not in repr(token)
    assert "secret-access-token-value" not in str(token)


def test_notifier_payload_parses_epoch_milliseconds() -> None:
    payload = NotifierPayload.model_validate(
        {
            "client_id": "key",
            "user_id": "AB1234",
            "access_token": "tok-value-123",
            "token_type": "Bearer",
            "expires_at": "1731448800000",
            "issued_at": "1731412800000",
            "message_type": "access_token",
        }
    )
    assert payload.expires_at == datetime(2024, 11, 12, 22, 0, tzinfo=UTC)
    assert payload.expires_at.astimezone(IST).strftime("%H:%M") == "03:30"
    assert payload.issued_at == datetime(2024, 11, 12, 12, 0, tzinfo=UTC)
    assert "tok-value-123" not in repr(payload)


def test_access_token_request_started_parses_expiry_string() -> None:
    started = AccessTokenRequestStarted.model_validate(
        {"authorization_expiry": "1732226400000", "notifier_url": "https://example.com/n"}
    )
    assert started.authorization_expiry == datetime(2024, 11, 21, 22, 0, tzinfo=UTC)


def _envelope(*errors: dict[str, object]) -> bytes:
    return json.dumps({"status": "error", "errors": list(errors)}).encode()


def test_envelope_reads_snake_case_first_then_camel_case() -> None:
    details = parse_error_details(
        _envelope(
            {"error_code": "UDAPI1183", "errorCode": "IGNORED", "property_path": "primary_ip"},
            {
                "errorCode": "UDAPI1184",
                "message": "same",
                "propertyPath": "secondary_ip",
                "invalidValue": "1.2.3.4",
            },
        )
    )
    assert [d.error_code for d in details] == ["UDAPI1183", "UDAPI1184"]
    assert details[1].property_path == "secondary_ip"
    assert details[1].invalid_value == "1.2.3.4"


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b"[]", b'{"errors": 3}', b"null"])
def test_envelope_tolerates_non_envelopes(body: bytes) -> None:
    assert parse_error_details(body) == []


@pytest.mark.parametrize(
    ("endpoint", "status", "code", "expected"),
    [
        (Endpoint.PUT_IPS, 423, "UDAPI1185", UpstoxWeeklyLimit),
        (Endpoint.GET_IPS, 423, "UDAPI1185", UpstoxApiError),  # 1185 means "weekly" only on PUT
        (Endpoint.PUT_IPS, 400, "UDAPI1186", UpstoxConcurrentUpdate),
        (Endpoint.GET_IPS, 400, "UDAPI1186", UpstoxApiError),
        (Endpoint.PUT_IPS, 400, "UDAPI1183", UpstoxInvalidInput),
        (Endpoint.GET_IPS, 403, "UDAPI1179", UpstoxNotAllowed),
        (Endpoint.PROFILE, 403, "UDAPI1179", UpstoxApiError),
        (Endpoint.PROFILE, 401, "UDAPI100050", UpstoxTokenInvalid),
        (Endpoint.TOKEN_EXCHANGE, 401, "UDAPI100016", UpstoxApiError),
        (Endpoint.TOKEN_EXCHANGE, 401, None, UpstoxApiError),
        (Endpoint.GET_IPS, 401, None, UpstoxTokenInvalid),
        (Endpoint.GET_IPS, 429, None, UpstoxRateLimited),
        (Endpoint.PUT_IPS, 400, "UDAPI10005", UpstoxRateLimited),
        (Endpoint.GET_IPS, 503, None, UpstoxUnavailable),
        (Endpoint.GET_IPS, 500, "UDAPI100500", UpstoxUnavailable),
        (Endpoint.PUT_IPS, 502, None, UpstoxOutcomeUnknown),
        (Endpoint.PUT_IPS, 500, "UDAPI100500", UpstoxOutcomeUnknown),
        (Endpoint.PUT_IPS, 400, "UDAPI999", UpstoxApiError),
    ],
)
def test_codes_mean_what_their_endpoint_says(
    endpoint: Endpoint, status: int, code: str | None, expected: type[UpstoxError]
) -> None:
    details = parse_error_details(_envelope({"error_code": code, "message": "m"}) if code else b"")
    error = error_for_response(endpoint, status, details)
    assert type(error) is expected
    assert error.status == status
    assert error.code == code


def test_first_meaningful_error_wins_and_all_are_kept() -> None:
    details = parse_error_details(
        _envelope(
            {"error_code": "UDAPI100036", "message": "noise"},
            {"errorCode": "UDAPI1184", "message": "Primary and secondary are equal"},
        )
    )
    error = error_for_response(Endpoint.PUT_IPS, 400, details)
    assert isinstance(error, UpstoxInvalidInput)
    assert error.code == "UDAPI1184"
    assert error.field == "secondary_ip"
    assert [e.error_code for e in error.errors] == ["UDAPI100036", "UDAPI1184"]
    assert str(error) == "UDAPI1184: Primary and secondary are equal"


def test_not_allowed_reasons() -> None:
    reasons = {
        code: error_for_response(
            Endpoint.PUT_IPS, 403, parse_error_details(_envelope({"error_code": code}))
        )
        for code in ("UDAPI1179", "UDAPI1180", "UDAPI1181")
    }
    assert {code: getattr(e, "reason", None) for code, e in reasons.items()} == {
        "UDAPI1179": "not_allowed",
        "UDAPI1180": "app_inactive",
        "UDAPI1181": "not_available",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    body=st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=40),
        st.lists(
            st.dictionaries(
                st.sampled_from(["error_code", "errorCode", "message", "property_path"]),
                json_values,
            ),
            max_size=3,
        ).map(lambda errors: json.dumps({"errors": errors}).encode()),
    ),
    status=st.integers(min_value=400, max_value=599),
    endpoint=st.sampled_from(list(Endpoint)),
)
def test_any_error_body_maps_to_an_upstox_error(
    body: bytes, status: int, endpoint: Endpoint
) -> None:
    error = error_for_response(endpoint, status, parse_error_details(body))
    assert isinstance(error, UpstoxError)
    assert str(error)


def test_emulator_week_rules_calendar_week_and_rolling_seven_days() -> None:
    wednesday = datetime(2026, 4, 1, 10, 0, tzinfo=IST)
    assert week_unlock_at(wednesday) == datetime(2026, 4, 6, 0, 0, tzinfo=IST)
    assert week_unlock_at(wednesday, "rolling_7_days") == wednesday + timedelta(days=7)
    sunday_late = datetime(2026, 4, 5, 23, 0, tzinfo=IST)
    assert week_unlock_at(sunday_late) == datetime(2026, 4, 6, 0, 0, tzinfo=IST)
    monday_midnight = datetime(2026, 4, 6, 0, 0, tzinfo=IST)
    assert week_unlock_at(monday_midnight) == datetime(2026, 4, 13, 0, 0, tzinfo=IST)
    assert week_unlock_at(monday_midnight, "rolling_7_days") == datetime(
        2026, 4, 13, 0, 0, tzinfo=IST
    )
