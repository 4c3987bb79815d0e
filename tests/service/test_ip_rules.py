from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserFacingError
from bot.requests.ip_rules import (
    InvalidIp,
    NonPublicIp,
    NotAnIp,
    NotStandardNotation,
    PrimaryEqualsSecondary,
    Proposal,
    UnchangedFromRegistered,
    parse_ip,
    validate_proposal,
)
from bot.requests.service import InvalidFields, check_fields


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.114.7", "203.0.114.7"),
        ("8.8.8.8", "8.8.8.8"),
        ("2400:1a00::7", "2400:1a00::7"),
        ("2400:1A00::7", "2400:1a00::7"),
        ("::ffff:8.8.8.8", "8.8.8.8"),
    ],
)
def test_accepts_public_standard_notation(text: str, expected: str) -> None:
    assert parse_ip(text, allow_non_public=False) == expected


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("010.1.1.1", "10.1.1.1"),
        (" 8.8.8.8", "8.8.8.8"),
        ("8.8.8.8\n", "8.8.8.8"),
        ("[2400:1a00::7]", "2400:1a00::7"),
        ("fe80::1%eth0", "fe80::1"),
        ("2400:1a00:0:0::7", "2400:1a00::7"),
        ("2400:1a00::0007", "2400:1a00::7"),
    ],
)
def test_non_standard_notation_suggests_the_standard_form(text: str, suggestion: str) -> None:
    with pytest.raises(NotStandardNotation) as info:
        parse_ip(text, allow_non_public=True)
    assert info.value.suggestion == suggestion
    assert f"Did you mean `{suggestion}`?" in info.value.user_message


def test_leading_zeros_mention_octal() -> None:
    with pytest.raises(NotStandardNotation, match="octal"):
        parse_ip("010.1.1.1", allow_non_public=True)


@pytest.mark.parametrize(
    "text", ["", "1.1.1", "abc", "1.2.3.4/32", "256.1.1.1", "::g", "1.2.3.4.5"]
)
def test_not_an_ip(text: str) -> None:
    with pytest.raises(NotAnIp) as info:
        parse_ip(text, allow_non_public=True)
    assert info.value.reason_code == "not_an_ip"


@pytest.mark.parametrize(
    ("text", "code", "network"),
    [
        ("10.1.2.3", "private", "10.0.0.0/8"),
        ("172.16.5.4", "private", "172.16.0.0/12"),
        ("192.168.1.1", "private", "192.168.0.0/16"),
        ("127.0.0.1", "loopback", "127.0.0.0/8"),
        ("169.254.1.1", "link_local", "169.254.0.0/16"),
        ("224.0.0.1", "multicast", "224.0.0.0/4"),
        ("240.0.0.1", "reserved", "240.0.0.0/4"),
        ("255.255.255.255", "reserved", "255.255.255.255/32"),
        ("0.0.0.0", "unspecified", "0.0.0.0/8"),
        ("192.0.2.1", "documentation", "192.0.2.0/24"),
        ("198.51.100.1", "documentation", "198.51.100.0/24"),
        ("203.0.113.9", "documentation", "203.0.113.0/24"),
        ("100.64.0.1", "shared_address_space", "100.64.0.0/10"),
        ("::", "unspecified", "::/128"),
        ("::1", "loopback", "::1/128"),
        ("fe80::1", "link_local", "fe80::/10"),
        ("fd00::1", "private", "fc00::/7"),
        ("ff02::1", "multicast", "ff00::/8"),
        ("2001:db8::1", "documentation", "2001:db8::/32"),
        ("::ffff:10.0.0.1", "private", "10.0.0.0/8"),
    ],
)
def test_non_public_ranges_are_named(text: str, code: str, network: str) -> None:
    with pytest.raises(NonPublicIp) as info:
        parse_ip(text, allow_non_public=False)
    assert info.value.reason_code == code
    assert network in info.value.user_message
    # With the operator's permission the same input passes, normalised.
    normalised = parse_ip(text, allow_non_public=True)
    assert normalised == str(ipaddress.ip_address(normalised))


def test_other_non_global_ranges_are_refused() -> None:
    with pytest.raises(NonPublicIp) as info:
        parse_ip("198.18.0.1", allow_non_public=False)
    assert info.value.reason_code == "not_global"


def test_errors_are_user_facing_and_quote_safely() -> None:
    with pytest.raises(UserFacingError) as info:
        parse_ip("`rm -rf`" + "x" * 500, allow_non_public=False)
    message = info.value.user_message
    assert "rm -rf" in message
    assert len(message) < 200
    assert message.count("`") % 2 == 0


@given(st.text(max_size=60))
def test_random_text_raises_only_the_typed_error(text: str) -> None:
    try:
        result = parse_ip(text, allow_non_public=False)
    except InvalidIp as exc:
        assert exc.user_message
        return
    assert result == str(ipaddress.ip_address(result))


@given(st.from_regex(r"\A[0-9a-fA-F:.%\[\] ]{0,45}\Z"))
def test_ip_like_text_raises_only_the_typed_error(text: str) -> None:
    with contextlib.suppress(InvalidIp):
        parse_ip(text, allow_non_public=True)


@given(st.ip_addresses(v=4))
def test_every_public_ipv4_round_trips(address: ipaddress.IPv4Address) -> None:
    text = str(address)
    if address.is_global and not address.is_multicast and address not in _SHARED:
        assert parse_ip(text, allow_non_public=False) == text
        assert parse_ip(f"::ffff:{text}", allow_non_public=False) == text
    else:
        with pytest.raises(NonPublicIp):
            parse_ip(text, allow_non_public=False)
    assert parse_ip(text, allow_non_public=True) == text


@given(st.ip_addresses(v=6))
def test_every_ipv6_in_standard_notation_round_trips(address: ipaddress.IPv6Address) -> None:
    text = str(address)
    try:
        result = parse_ip(text.upper(), allow_non_public=True)
    except InvalidIp:
        raise AssertionError(text) from None
    expected = str(address.ipv4_mapped) if address.ipv4_mapped else text
    assert result == expected


_SHARED = ipaddress.ip_network("100.64.0.0/10")


def test_proposal_happy_path_keeps_current_secondary() -> None:
    proposal = validate_proposal("8.8.8.8", None, "1.1.1.1", "9.9.9.9")
    assert proposal == Proposal(primary="8.8.8.8", secondary="9.9.9.9", secondary_kept=True)


def test_proposal_with_both_ips() -> None:
    proposal = validate_proposal("8.8.8.8", "8.8.4.4", "1.1.1.1", None)
    assert (proposal.primary, proposal.secondary, proposal.secondary_kept) == (
        "8.8.8.8",
        "8.8.4.4",
        False,
    )


def test_proposal_first_time_without_secondary() -> None:
    proposal = validate_proposal("8.8.8.8", None, None, None)
    assert proposal.secondary is None


def test_proposal_primary_equals_secondary() -> None:
    with pytest.raises(PrimaryEqualsSecondary):
        validate_proposal("8.8.8.8", "8.8.8.8", "1.1.1.1", None)
    # Also when both spell the same address differently (the form's check, which parses
    # each IP once, says so per field).
    with pytest.raises(InvalidFields) as refused:
        check_fields("8.8.8.8", "::ffff:8.8.8.8", "moving", allow_non_public=False)
    assert "same IP" in refused.value.errors["secondary"]


def test_proposal_primary_equals_kept_secondary() -> None:
    with pytest.raises(PrimaryEqualsSecondary, match="kept"):
        validate_proposal("9.9.9.9", None, "1.1.1.1", "9.9.9.9")


def test_proposal_identical_to_registered() -> None:
    with pytest.raises(UnchangedFromRegistered):
        validate_proposal("1.1.1.1", "9.9.9.9", "1.1.1.1", "9.9.9.9")
    with pytest.raises(UnchangedFromRegistered):
        validate_proposal("1.1.1.1", None, "1.1.1.1", "9.9.9.9")
    # Upstox may spell the registered IPv6 differently.
    with pytest.raises(UnchangedFromRegistered):
        validate_proposal("2400:1a00::7", None, "2400:1A00:0::7", None)


def test_proposal_swapping_is_a_change() -> None:
    proposal = validate_proposal("9.9.9.9", "1.1.1.1", "1.1.1.1", "9.9.9.9")
    assert proposal.primary == "9.9.9.9"


def test_each_field_is_named_in_its_error() -> None:
    with pytest.raises(InvalidFields) as refused:
        check_fields("10.0.0.1", "nope", "moving", allow_non_public=False)
    assert "Primary IP" in refused.value.errors["primary"]
    assert "Secondary IP" in refused.value.errors["secondary"]


def test_proposal_warns_about_ipv6() -> None:
    proposal = validate_proposal("2400:1a00::7", None, None, None)
    assert proposal.warnings and "IPv6" in proposal.warnings[0]
