"""Validation of the IPs a user asks to register with Upstox.

A wrong IP locks the desk out for a week, so anything that is not exactly a public
unicast address in standard notation is refused with a message that says what to fix.
Messages quote the user's text in backticks; the Slack layer still escapes `&<>`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from bot.errors import UserFacingError
from bot.ips import normalise_ip

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidIp(UserFacingError):
    """Base of every refusal of a single IP. `reason_code` is stable, for logs and tests."""

    def __init__(self, reason_code: str, message: str, *, value: str) -> None:
        super().__init__(message, code=reason_code)
        self.reason_code = reason_code
        self.value = value


class NotAnIp(InvalidIp):
    pass


class NotStandardNotation(InvalidIp):
    def __init__(self, message: str, *, value: str, suggestion: str | None) -> None:
        super().__init__("not_standard", message, value=value)
        self.suggestion = suggestion


class NonPublicIp(InvalidIp):
    def __init__(self, reason_code: str, message: str, *, value: str, network: str) -> None:
        super().__init__(reason_code, message, value=value)
        self.network = network


class InvalidProposal(UserFacingError):
    """The pair of IPs is refused as a whole."""


class PrimaryEqualsSecondary(InvalidProposal):
    pass


class UnchangedFromRegistered(InvalidProposal):
    pass


@dataclass(frozen=True, slots=True)
class Proposal:
    primary: str
    secondary: str | None
    """What will be sent as `secondary_ip` (the current one when the user gave none)."""
    secondary_kept: bool
    """True when the user gave no secondary and the registered one is re-sent."""
    warnings: tuple[str, ...] = ()


# (network, reason_code, description); checked in order, first match wins.
_NAMED_RANGES: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, str], ...] = tuple(
    (ipaddress.ip_network(net), code, desc)
    for net, code, desc in (
        ("0.0.0.0/8", "unspecified", "is in the unspecified ('this network') range"),
        ("127.0.0.0/8", "loopback", "is in the loopback range"),
        ("10.0.0.0/8", "private", "is in a private range (RFC 1918)"),
        ("172.16.0.0/12", "private", "is in a private range (RFC 1918)"),
        ("192.168.0.0/16", "private", "is in a private range (RFC 1918)"),
        (
            "100.64.0.0/10",
            "shared_address_space",
            "is in the shared address space used by carrier-grade NAT",
        ),
        ("169.254.0.0/16", "link_local", "is in the link-local range"),
        ("192.0.2.0/24", "documentation", "is in a documentation range (TEST-NET-1)"),
        ("198.51.100.0/24", "documentation", "is in a documentation range (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation", "is in a documentation range (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast", "is in the multicast range"),
        ("255.255.255.255/32", "reserved", "is the broadcast address"),
        ("240.0.0.0/4", "reserved", "is in a reserved range"),
        ("::/128", "unspecified", "is the unspecified address"),
        ("::1/128", "loopback", "is the loopback address"),
        ("fe80::/10", "link_local", "is in the link-local range"),
        ("fc00::/7", "private", "is in the unique-local (private) range"),
        ("ff00::/8", "multicast", "is in the multicast range"),
        ("2001:db8::/32", "documentation", "is in a documentation range"),
        ("3fff::/20", "documentation", "is in a documentation range"),
        ("fec0::/10", "reserved", "is in the deprecated site-local range"),
    )
)

_MAX_SHOWN = 64
_DOTTED_QUAD = re.compile(r"^\d{1,10}\.\d{1,10}\.\d{1,10}\.\d{1,10}$")


def _show(text: str) -> str:
    """Quote user input safely inside backticks, short enough for a Slack line."""
    cleaned = "".join(ch if ch.isprintable() and ch != "`" else "?" for ch in text)
    if len(cleaned) > _MAX_SHOWN:
        cleaned = cleaned[:_MAX_SHOWN] + "…"
    return f"`{cleaned}`"


def _parse_any(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _suggest(text: str) -> str | None:
    """A standard spelling of something that is almost an IP, if one is obvious."""
    candidate = text.strip().strip("[]").split("%", 1)[0]
    if _DOTTED_QUAD.match(candidate):
        octets = [int(part) for part in candidate.split(".")]
        if all(o <= 255 for o in octets):
            return ".".join(str(o) for o in octets)
    parsed = _parse_any(candidate)
    if parsed is None:
        return None
    return _standard(parsed)


def _standard(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _check_public(address: IPAddress, value: str, label: str) -> None:
    for network, code, description in _NAMED_RANGES:
        if address.version == network.version and address in network:
            raise NonPublicIp(
                code,
                f"{label} {_show(value)} {description} ({network}). Upstox needs the "
                "public IP your trading host uses on the internet.",
                value=value,
                network=str(network),
            )
    if not address.is_global:
        raise NonPublicIp(
            "not_global",
            f"{label} {_show(value)} is not a globally routable address. Upstox needs the "
            "public IP your trading host uses on the internet.",
            value=value,
            network="",
        )


def parse_ip(text: str, *, allow_non_public: bool, label: str = "IP") -> str:
    """Return `text` as a normalised IP, or raise an `InvalidIp` subclass.

    Only standard notation is accepted (what `ipaddress` prints, IPv6 in any case);
    an IPv4-mapped IPv6 address is returned as its IPv4 address.
    """
    address = _parse_any(text)
    if address is None:
        suggestion = _suggest(text)
        if suggestion is not None:
            _raise_not_standard(text, suggestion, label)
        raise NotAnIp(
            "not_an_ip",
            f"{label} {_show(text)} is not an IP address. Write it like `203.0.113.7` "
            "or `2400:1a00::7`.",
            value=text,
        )
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        _raise_not_standard(text, _standard(ipaddress.IPv6Address(text.split("%", 1)[0])), label)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    elif str(address) != (text.lower() if address.version == 6 else text):
        _raise_not_standard(text, _standard(address), label)
    if not allow_non_public:
        _check_public(address, text, label)
    return str(address)


def _raise_not_standard(text: str, suggestion: str, label: str) -> None:
    hint = ""
    if _DOTTED_QUAD.match(text.strip()) and any(
        len(p) > 1 and p.startswith("0") for p in text.strip().split(".")
    ):
        hint = " Leading zeros are read as octal by some tools, so they are not accepted."
    raise NotStandardNotation(
        f"{label} {_show(text)} is not in standard notation.{hint} "
        f"Did you mean {_show(suggestion)}?",
        value=text,
        suggestion=suggestion,
    )


def validate_proposal(
    primary: str,
    secondary: str | None,
    current_primary: str | None,
    current_secondary: str | None,
) -> Proposal:
    """Check a requested change against what is registered, before anything is posted.

    `primary` and `secondary` are IPs `parse_ip` has already accepted (each IP is parsed
    once, by the form's check). Upstox gets both fields on every PUT, so without a new
    secondary the registered one is re-sent; the primary must then differ from it too
    (Upstox would say UDAPI1184).
    """
    new_primary = primary
    given_secondary = secondary is not None
    if given_secondary:
        new_secondary: str | None = secondary
    else:
        new_secondary = normalise_ip(current_secondary)

    if new_secondary is not None and new_primary == new_secondary:
        if given_secondary:
            message = (
                f"Primary and secondary are the same IP ({_show(new_primary)}). "
                "Give two different IPs, or only a primary."
            )
        else:
            message = (
                f"{_show(new_primary)} is already the registered secondary IP, which is kept "
                "when you give no secondary. Give a different secondary as well."
            )
        raise PrimaryEqualsSecondary(message, code="primary_equals_secondary")

    if new_primary == normalise_ip(current_primary) and new_secondary == (
        normalise_ip(current_secondary)
    ):
        raise UnchangedFromRegistered(
            "Those IPs are already registered, so there is nothing to change (and a change "
            "would use up this week's only one).",
            code="unchanged",
        )

    warnings: list[str] = []
    if any(":" in ip for ip in (new_primary, new_secondary) if ip is not None):
        warnings.append(
            "IPv6 address: make sure your trading host really reaches Upstox over IPv6; "
            "some users see timeouts and login trouble over IPv6."
        )
    return Proposal(
        primary=new_primary,
        secondary=new_secondary,
        secondary_kept=not given_secondary,
        warnings=tuple(warnings),
    )
